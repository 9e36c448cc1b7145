using System.Net;
using System.Net.Http.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The agent port's limits per source address and per agent id against a real hub, over real sockets on
/// loopback (each client binds its own 127.0.0.x) with a <see cref="FakeTimeProvider"/>, so that no bucket refills and no
/// block ends unless a test moves the clock: a connection flood from one address beyond its rate is refused with growing
/// retry-afters and then reset while another address's agents are welcomed; wrong-token guessing is cut to the allowance;
/// a flapping agent id is refused with a growing retry-after and comes back after it.</summary>
public sealed class HubAbuseLimitsTests
{
    private const string Token = "s3cret";
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly IPAddress Flooder = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Neighbour = IPAddress.Parse("127.0.0.3");

    private static Task<HubFixture> StartAsync(FakeTimeProvider time, Func<HubOptions, HubOptions>? configure = null, LogCapture? log = null) =>
        HubFixture.StartAsync(
            o =>
            {
                o = o with { TimeProvider = time, Token = Token, FlushInterval = TimeSpan.FromSeconds(1), SweepInterval = TimeSpan.FromSeconds(1) };
                return configure?.Invoke(o) ?? o;
            },
            loggerFactory: log?.Factory);

    private static async Task<Message> HelloFromAsync(HubFixture fixture, IPAddress source, string id, string token = Token)
    {
        await using var client = await RawProtocolClient.ConnectFromAsync(fixture.AgentEndPoint, source);
        return await client.HandshakeAsync(RawProtocolClient.MakeHello(id, token));
    }

    private static async Task<ConnectionRateLimitsView> LimitsAsync(HubFixture fixture)
    {
        using var http = fixture.CreateApiClient();
        var stats = await http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        return stats!.Connections.Limits;
    }

    [Fact]
    public async Task A_connect_flood_from_one_address_is_refused_with_growing_retry_afters_then_reset_while_another_address_gets_in()
    {
        var time = new FakeTimeProvider(Start);
        var log = new LogCapture();
        await using var fixture = await StartAsync(time, o => o with { ConnectionRatePerSource = 2, ConnectionBurstPerSource = 2, ConnectionRateExempt = [] }, log);

        // The burst gets in; beyond it each hello is refused with the next moment of the source's queue, 500 ms apart.
        for (var i = 0; i < 2; i++)
        {
            Assert.IsType<Welcome>(await HelloFromAsync(fixture, Flooder, $"flood-{i}"));
        }

        var retryAfters = new List<uint>();
        for (var i = 0; i < 120; i++)
        {
            var refuse = Assert.IsType<Refuse>(await HelloFromAsync(fixture, Flooder, $"flood-x{i}"));
            Assert.Equal(ErrorCode.RateLimited, refuse.Code);
            retryAfters.Add(refuse.RetryAfterMs);
            if (i is 0 or 60)
            {
                // Meanwhile another address's agents are welcomed.
                Assert.IsType<Welcome>(await HelloFromAsync(fixture, Neighbour, $"neighbour-{i}"));
            }
        }

        Assert.Equal(Enumerable.Range(1, 120).Select(k => (uint)(500 * k)), retryAfters);

        // A minute ahead: reset at accept, before any hello is read.
        try
        {
            await using var reset = await RawProtocolClient.ConnectFromAsync(fixture.AgentEndPoint, Flooder);
            await reset.SendAsync(RawProtocolClient.MakeHello("flood-reset", Token));
            Assert.True(await reset.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "reset at once");
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
        {
            // Reset while sending or reading: as expected.
        }

        // The first refused agent comes back at its moment and is welcomed.
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.IsType<Welcome>(await HelloFromAsync(fixture, Flooder, "flood-x0"));

        var limits = await LimitsAsync(fixture);
        Assert.Equal((2, 2, 120L, 1L), (limits.ConnectionRate, limits.ConnectionBurst, limits.RefusedOverRate, limits.ResetOverRate));
        Assert.Equal(2, limits.TrackedSources);

        // One line for the flooding address, none for its neighbour.
        var line = Assert.Single(log.WithEvent(210));
        Assert.Contains("127.0.0.2", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_token_guessing_from_one_address_is_checked_only_up_to_the_allowance_and_the_block_grows()
    {
        // Before: with the penalty off, every guess has its token checked (and, before this change, logged).
        var time = new FakeTimeProvider(Start);
        await using (var before = await StartAsync(time, o => o with { AuthPenaltyMax = TimeSpan.Zero }))
        {
            for (var i = 0; i < 30; i++)
            {
                Assert.Equal(ErrorCode.AuthenticationFailed, Assert.IsType<Refuse>(await HelloFromAsync(before, IPAddress.Loopback, "guesser", $"guess-{i}")).Code);
            }
        }

        // After (the defaults; loopback is exempt from the connection rate, not from this): 5 free guesses, the 6th is
        // refused and blocks the address for 1 s, and every hello meanwhile is refused unchecked, the right token's too.
        time = new FakeTimeProvider(Start);
        var log = new LogCapture();
        await using var fixture = await StartAsync(time, log: log);
        var checkedGuesses = 0;
        var blocked = new List<Refuse>();
        for (var i = 0; i < 30; i++)
        {
            var refuse = Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "guesser", $"guess-{i}"));
            if (refuse.Code == ErrorCode.AuthenticationFailed)
            {
                checkedGuesses++;
            }
            else
            {
                blocked.Add(refuse);
            }
        }

        Assert.Equal(6, checkedGuesses);
        Assert.Equal(24, blocked.Count);
        Assert.All(blocked, r => Assert.Equal((ErrorCode.RateLimited, 1000u), (r.Code, r.RetryAfterMs)));
        Assert.Equal(ErrorCode.RateLimited, Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "honest")).Code);
        Assert.IsType<Welcome>(await HelloFromAsync(fixture, Neighbour, "honest-neighbour"));

        // After the block the right token is welcomed; the next wrong one blocks twice as long.
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.IsType<Welcome>(await HelloFromAsync(fixture, IPAddress.Loopback, "honest"));
        var second = Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "guesser", "guess-again"));
        Assert.Equal((ErrorCode.AuthenticationFailed, 2000u), (second.Code, second.RetryAfterMs));

        var limits = await LimitsAsync(fixture);
        Assert.Equal((7L, 2L, 25L, 1), (limits.AuthFailures, limits.AuthPenalties, limits.RefusedPenalized, limits.PenalizedSources));

        // 32 refusals from one address: one log line (the rest are counted for the once-a-minute line), none per hello.
        var line = Assert.Single(log.WithEvent(212));
        Assert.Contains("127.0.0.1", line.Message, StringComparison.Ordinal);
        Assert.Empty(log.WithEvent(203));
    }

    [Fact]
    public async Task A_flapping_agent_id_is_refused_with_a_growing_retry_after_and_comes_back_after_it()
    {
        var time = new FakeTimeProvider(Start);
        var log = new LogCapture();
        await using var fixture = await StartAsync(time, o => o with { FlapMaxReconnects = 3 }, log);

        for (var round = 1; round <= 2; round++)
        {
            for (var i = 1; i <= 3; i++)
            {
                Assert.IsType<Welcome>(await HelloFromAsync(fixture, IPAddress.Loopback, "flappy"));
                time.Advance(TimeSpan.FromSeconds(1));
            }

            var ban = Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "flappy"));
            var expected = TimeSpan.FromMinutes(5 * round);
            Assert.Equal((ErrorCode.RateLimited, (uint)expected.TotalMilliseconds), (ban.Code, ban.RetryAfterMs));
            Assert.Contains("flappy", ban.Reason, StringComparison.Ordinal);

            // Hellos that keep coming are refused and counted, not logged one by one: one line for the ban.
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(ErrorCode.RateLimited, Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "flappy")).Code);
            }

            Assert.Contains($"ban {round} of this id", log.WithEvent(214)[^1].Message, StringComparison.Ordinal);

            // Other agents are not affected; the banned id is told the time left, and comes back after it.
            Assert.IsType<Welcome>(await HelloFromAsync(fixture, IPAddress.Loopback, $"steady-{round}"));
            time.Advance(TimeSpan.FromMinutes(1));
            var left = Assert.IsType<Refuse>(await HelloFromAsync(fixture, IPAddress.Loopback, "flappy"));
            Assert.Equal((uint)(expected - TimeSpan.FromMinutes(1)).TotalMilliseconds, left.RetryAfterMs);
            time.Advance(expected - TimeSpan.FromMinutes(1));
        }

        Assert.IsType<Welcome>(await HelloFromAsync(fixture, IPAddress.Loopback, "flappy"));
        var limits = await LimitsAsync(fixture);
        Assert.Equal((2L, 14L), (limits.FlapBans, limits.RefusedFlapping));

        // A line for each ban; the refusals during the bans are counted in once-a-minute lines.
        Assert.Equal(2, log.WithEvent(214).Count);
        Assert.NotEmpty(log.WithEvent(215));
    }
}
