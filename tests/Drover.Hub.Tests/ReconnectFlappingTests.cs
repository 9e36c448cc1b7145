using Drover.Hub.Fleet;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Flapping detection per agent id (<see cref="ReconnectFlapping"/>) on a fake clock: the defaults (15 sessions
/// within a minute, then a ban of 5 minutes that doubles per offence), the ban's end, and the records' expiry.</summary>
public sealed class ReconnectFlappingTests
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>One session of <paramref name="id"/> now, as the hub counts it: the previous one started at <paramref name="last"/>,
    /// which moves to now when the hello passes.</summary>
    private static bool Connect(ReconnectFlapping flapping, FakeTimeProvider time, string id, ref long last, out TimeSpan retryAfter, out int offence)
    {
        if (!flapping.TryConnect(id, last, out retryAfter, out offence))
        {
            return false;
        }

        last = time.GetUtcNow().UtcTicks;
        return true;
    }

    [Fact]
    public void The_16th_session_within_a_minute_is_refused_for_5_minutes_then_10_and_the_id_comes_back_after_each_ban()
    {
        var time = new FakeTimeProvider(Start);
        var flapping = new ReconnectFlapping(new HubOptions { TimeProvider = time });
        long last = 0;
        for (var i = 1; i <= 15; i++)
        {
            Assert.True(Connect(flapping, time, "flappy", ref last, out _, out _), $"session {i}");
            time.Advance(TimeSpan.FromSeconds(2));
        }

        Assert.False(Connect(flapping, time, "flappy", ref last, out var ban, out var offence));
        Assert.Equal((TimeSpan.FromMinutes(5), 1), (ban, offence));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(Connect(flapping, time, "flappy", ref last, out var left, out offence));
        Assert.Equal((TimeSpan.FromMinutes(4), 0), (left, offence));

        // Back after the ban; flapping again right away is the second offence: twice as long.
        time.Advance(TimeSpan.FromMinutes(4));
        for (var i = 1; i <= 15; i++)
        {
            Assert.True(Connect(flapping, time, "flappy", ref last, out _, out _), $"session {i} after the ban");
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.False(Connect(flapping, time, "flappy", ref last, out ban, out offence));
        Assert.Equal((TimeSpan.FromMinutes(10), 2), (ban, offence));
        Assert.Equal((2L, 3L), (flapping.Bans, flapping.Refused));

        time.Advance(TimeSpan.FromMinutes(10));
        Assert.True(Connect(flapping, time, "flappy", ref last, out _, out _));
    }

    [Fact]
    public void An_id_reconnecting_every_5_seconds_is_never_banned_and_ids_that_stop_are_forgotten()
    {
        var time = new FakeTimeProvider(Start);
        var flapping = new ReconnectFlapping(new HubOptions { TimeProvider = time });
        long calm = 0;
        long once = 0;
        Assert.True(Connect(flapping, time, "once", ref once, out _, out _));
        for (var i = 0; i < 120; i++)
        {
            Assert.True(Connect(flapping, time, "calm", ref calm, out _, out _), $"session {i}");
            time.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(0, flapping.Bans);

        // Only an id that reconnected within the window has a record; it goes once the window passed without sessions.
        Assert.Equal(1, flapping.Tracked);
        time.Advance(TimeSpan.FromMinutes(2));
        flapping.Prune();
        Assert.Equal(0, flapping.Tracked);

        // Off: 0 sessions allowed means no limit.
        var off = new ReconnectFlapping(new HubOptions { TimeProvider = time, FlapMaxReconnects = 0 });
        long any = 0;
        for (var i = 0; i < 1_000; i++)
        {
            Assert.True(Connect(off, time, "any", ref any, out _, out _));
        }
    }
}
