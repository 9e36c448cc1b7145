using System.Net;
using Drover.Hub.Connections;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The per-source table (<see cref="SourceLimits"/>) on a fake clock, without sockets: the connection rate with
/// its queue of moments, the grouping of addresses into sources, the exemption, the table's bound and expiry, and the
/// penalty for wrong tokens, measured as guesses per second from one address.</summary>
public sealed class SourceLimitsTests
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly IPAddress Attacker = IPAddress.Parse("203.0.113.7");

    private static SourceLimits Limits(FakeTimeProvider time, int rate = 20, int burst = 40, TimeSpan? penaltyMax = null, bool exemptLoopback = false)
    {
        var options = new HubOptions
        {
            TimeProvider = time,
            ConnectionRatePerSource = rate,
            ConnectionBurstPerSource = burst,
            AuthPenaltyMax = penaltyMax ?? TimeSpan.FromMinutes(10),
        };
        return new SourceLimits(exemptLoopback ? options : options with { ConnectionRateExempt = [] });
    }

    [Fact]
    public void Beyond_the_burst_each_connection_gets_the_next_moment_of_its_source_then_a_reset_a_minute_ahead()
    {
        var time = new FakeTimeProvider(Start);
        var limits = Limits(time);
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(Attacker, out _));
        }

        // Over the rate: moments 1/20 s apart, so the retry-after grows while the source keeps connecting ...
        var now = time.GetUtcNow().UtcTicks;
        for (var k = 1; k <= 1_200; k++)
        {
            Assert.Equal(SourceVerdict.RefuseAtHello, limits.OnAccept(Attacker, out var at));
            Assert.Equal(TimeSpan.FromMilliseconds(50 * k), TimeSpan.FromTicks(at - now));
        }

        // ... up to a minute; then its connections are reset at accept.
        Assert.Equal(SourceVerdict.Reset, limits.OnAccept(Attacker, out _));
        Assert.Equal(1_200, limits.RefusedOverRate);
        Assert.Equal(1, limits.ResetOverRate);

        // Another source is not affected, and the first comes back at its moment.
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("203.0.113.8"), out _));
        time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(Attacker, out _));
    }

    [Fact]
    public void A_site_behind_one_address_that_honours_its_retry_afters_is_let_in_at_the_rate_each_agent_refused_once()
    {
        var time = new FakeTimeProvider(Start);
        var limits = Limits(time);
        var site = IPAddress.Parse("198.51.100.20");
        var comeBackAt = new List<long>();
        for (var agent = 0; agent < 200; agent++)
        {
            if (limits.OnAccept(site, out var at) == SourceVerdict.RefuseAtHello)
            {
                comeBackAt.Add(at);
            }
        }

        Assert.Equal(160, comeBackAt.Count);
        var refusedAgain = 0;
        foreach (var at in comeBackAt.Order())
        {
            time.SetUtcNow(new DateTimeOffset(at, TimeSpan.Zero));
            refusedAgain += limits.OnAccept(site, out _) == SourceVerdict.Allowed ? 0 : 1;
        }

        Assert.Equal(0, refusedAgain);
        Assert.Equal(TimeSpan.FromSeconds(8), time.GetUtcNow() - Start);
    }

    [Fact]
    public void IPv6_addresses_count_by_their_64_bit_prefix_mapped_IPv4_as_IPv4_and_loopback_is_exempt_by_default()
    {
        var time = new FakeTimeProvider(Start);
        var limits = Limits(time, rate: 1, burst: 2);
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("2001:db8:1:2::1"), out _));
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:ffff"), out _));
        Assert.Equal(SourceVerdict.RefuseAtHello, limits.OnAccept(IPAddress.Parse("2001:db8:1:2::99"), out _));
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("2001:db8:1:3::1"), out _));

        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("::ffff:192.0.2.1"), out _));
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Parse("192.0.2.1"), out _));
        Assert.Equal(SourceVerdict.RefuseAtHello, limits.OnAccept(IPAddress.Parse("::ffff:192.0.2.1"), out _));

        Assert.Equal("2001:db8:1:2::/64", SourceKey.From(IPAddress.Parse("2001:db8:1:2:abcd::7")).ToString());
        Assert.Equal("192.0.2.1", SourceKey.From(IPAddress.Parse("::ffff:192.0.2.1")).ToString());
        Assert.NotEqual(default, SourceKey.From(IPAddress.IPv6Loopback));
        Assert.NotEqual(default, SourceKey.From(IPAddress.IPv6Any));

        var defaults = new SourceLimits(new HubOptions { TimeProvider = time, ConnectionRatePerSource = 1, ConnectionBurstPerSource = 1 });
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Equal(SourceVerdict.Allowed, defaults.OnAccept(IPAddress.Parse("127.0.0.1"), out _));
            Assert.Equal(SourceVerdict.Allowed, defaults.OnAccept(IPAddress.IPv6Loopback, out _));
        }

        Assert.Equal(0, defaults.Tracked);
    }

    [Fact]
    public void The_table_holds_at_most_MaxSources_lets_further_sources_through_untracked_and_forgets_idle_ones()
    {
        var time = new FakeTimeProvider(Start);
        var limits = Limits(time, rate: 1, burst: 1);
        for (var i = 0; i < SourceLimits.MaxSources; i++)
        {
            Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(new IPAddress(0x0A00_0000u + (uint)i), out _));
        }

        Assert.Equal(SourceLimits.MaxSources, limits.Tracked);
        var newcomer = IPAddress.Parse("198.51.100.1");
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(newcomer, out _));
        Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(newcomer, out _));
        Assert.Equal(2, limits.Untracked);
        Assert.Equal(SourceVerdict.RefuseAtHello, limits.OnAccept(new IPAddress(0x0A00_0000u), out _));

        // Once its bucket is full again (and no queue, block or failure remains) a source is dropped; failures keep it.
        time.Advance(TimeSpan.FromSeconds(3));
        limits.Prune();
        Assert.Equal(0, limits.Tracked);
        limits.Authenticate(Attacker, tokenMatches: false, out _, out _);
        time.Advance(TimeSpan.FromSeconds(6));
        limits.Prune();
        Assert.Equal(1, limits.Tracked);
        time.Advance(SourceLimits.FailureMemory);
        limits.Prune();
        Assert.Equal(0, limits.Tracked);
    }

    [Fact]
    public void Wrong_tokens_from_one_address_fall_from_thousands_a_second_to_a_handful_a_minute()
    {
        // Before: without the penalty, a client sending 2,400 guesses a second has every one checked.
        var time = new FakeTimeProvider(Start);
        Assert.Equal(2_400 * 60, CheckedGuesses(Limits(time, penaltyMax: TimeSpan.Zero), time, out _, TimeSpan.FromMinutes(1)));

        // After: 5 free guesses; the 6th starts a block of 1 s, each later one a block twice as long (2, 4, 8, 16, 32 s):
        // 11 guesses checked in the first minute, about 0.2 a second, the other 143,989 refused without a look at the token.
        time = new FakeTimeProvider(Start);
        Assert.Equal(11, CheckedGuesses(Limits(time), time, out var penalized, TimeSpan.FromMinutes(1)));
        Assert.Equal((2_400 * 60) - 11, penalized);

        // Over an hour the blocks reach their cap of 10 min: 15 guesses in the first 17 minutes, then one every 10 minutes.
        time = new FakeTimeProvider(Start);
        Assert.Equal(20, CheckedGuesses(Limits(time), time, out _, TimeSpan.FromHours(1), step: TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public void A_blocked_source_is_refused_even_with_the_right_token_and_is_forgotten_15_minutes_after_its_last_failure()
    {
        var time = new FakeTimeProvider(Start);
        var limits = Limits(time, exemptLoopback: true);
        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(AuthVerdict.Failed, limits.Authenticate(IPAddress.Loopback, tokenMatches: false, out var none, out _));
            Assert.Equal(TimeSpan.Zero, none);
        }

        Assert.Equal(AuthVerdict.Failed, limits.Authenticate(IPAddress.Loopback, tokenMatches: false, out var block, out var failures));
        Assert.Equal((TimeSpan.FromSeconds(1), 6), (block, failures));
        Assert.Equal(AuthVerdict.Penalized, limits.Authenticate(IPAddress.Loopback, tokenMatches: true, out var left, out _));
        Assert.Equal(TimeSpan.FromSeconds(1), left);
        Assert.Equal(AuthVerdict.Accepted, limits.Authenticate(IPAddress.Parse("127.0.0.2"), tokenMatches: true, out _, out _));

        // Loopback is exempt from the rate, not from the penalty: its hellos are refused while blocked, and once it has
        // connected a burst's worth (40) during the block, its further connections are reset at accept.
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(SourceVerdict.Allowed, limits.OnAccept(IPAddress.Loopback, out _));
        }

        Assert.Equal(SourceVerdict.Reset, limits.OnAccept(IPAddress.Loopback, out _));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(AuthVerdict.Accepted, limits.Authenticate(IPAddress.Loopback, tokenMatches: true, out _, out _));
        Assert.Equal(AuthVerdict.Failed, limits.Authenticate(IPAddress.Loopback, tokenMatches: false, out block, out _));
        Assert.Equal(TimeSpan.FromSeconds(2), block);

        time.Advance(SourceLimits.FailureMemory + TimeSpan.FromSeconds(3));
        Assert.Equal(AuthVerdict.Failed, limits.Authenticate(IPAddress.Loopback, tokenMatches: false, out block, out failures));
        Assert.Equal((TimeSpan.Zero, 1), (block, failures));
        Assert.Equal((8L, 2L), (limits.AuthFailures, limits.Penalties));
    }

    /// <summary>A guesser that tries every <paramref name="step"/> (default: 2.4 guesses a millisecond, the rate measured
    /// against the hub before) for <paramref name="duration"/>, ignoring every retry-after: how many guesses had their token
    /// checked (the others were refused unchecked, <paramref name="penalized"/>).</summary>
    private static int CheckedGuesses(SourceLimits limits, FakeTimeProvider time, out int penalized, TimeSpan duration, TimeSpan? step = null)
    {
        var end = time.GetUtcNow() + duration;
        var (checkedGuesses, refused, tick) = (0, 0, 0);
        while (time.GetUtcNow() < end)
        {
            var guesses = step is null ? (tick++ % 5 < 2 ? 3 : 2) : 1;
            for (var i = 0; i < guesses; i++)
            {
                if (limits.Authenticate(Attacker, tokenMatches: false, out _, out _) == AuthVerdict.Penalized)
                {
                    refused++;
                }
                else
                {
                    checkedGuesses++;
                }
            }

            time.Advance(step ?? TimeSpan.FromMilliseconds(1));
        }

        penalized = refused;
        return checkedGuesses;
    }
}
