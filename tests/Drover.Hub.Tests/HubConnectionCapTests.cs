using System.Net.Http.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The connection caps (<c>--max-connections</c>, <c>--max-pending-handshakes</c>) with small configured values,
/// over real sockets on 127.0.0.1 and a <see cref="FakeTimeProvider"/> for the handshake timeout: a connection beyond a
/// cap is reset at once and counted, agents already connected keep reporting, and new agents get in once the silent
/// connections are closed at the handshake timeout.</summary>
public sealed class HubConnectionCapTests
{
    private const string Token = "s3cret";
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-06-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(5);

    /// <summary>The per-source limits' figures for these tests: the defaults, nothing refused (loopback is exempt from the
    /// rate, and every token is right).</summary>
    private static readonly ConnectionRateLimitsView NoRateLimits = new(20, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    private static Task<HubFixture> StartAsync(FakeTimeProvider time, int maxConnections, int maxPending) =>
        HubFixture.StartAsync(o => o with
        {
            TimeProvider = time,
            Token = Token,
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            SweepInterval = TimeSpan.FromSeconds(1),
            FlushInterval = TimeSpan.FromSeconds(1),
            MaxConnections = maxConnections,
            MaxPendingHandshakes = maxPending,
        });

    private static async Task<RawProtocolClient> ConnectAgentAsync(HubFixture fixture, string id)
    {
        var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id, Token)));
        return client;
    }

    /// <summary>Every agent sends its next report and gets it acknowledged.</summary>
    private static async Task ReportAsync(IReadOnlyList<RawProtocolClient> agents, ulong sequence)
    {
        foreach (var agent in agents)
        {
            await agent.SendAsync(RawProtocolClient.MakeStatus(sequence));
            Assert.Equal(sequence, (await agent.ReceiveAsync<StatusAck>()).Sequence);
        }
    }

    /// <summary>Connects, optionally sends a hello, and expects the hub to reset the connection at once (on loopback the
    /// reset may even come before the connect returns).</summary>
    private static async Task AssertResetAtOnceAsync(HubFixture fixture, string because, Hello? hello = null)
    {
        try
        {
            await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            if (hello is not null)
            {
                await client.SendAsync(hello);
            }

            Assert.True(await client.WaitForCloseAsync(AtOnce), because);
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
        {
            // Reset while connecting or sending: as good.
        }
    }

    /// <summary>Opens <paramref name="count"/> connections that send nothing and waits until the hub holds them all.</summary>
    private static async Task<List<RawProtocolClient>> OpenSilentAsync(HubFixture fixture, int count)
    {
        var limits = fixture.Hub.Sessions.Limits;
        var pendingBefore = limits.Pending;
        var silent = new List<RawProtocolClient>();
        for (var i = 0; i < count; i++)
        {
            silent.Add(await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint));
        }

        await HubFixture.WaitUntilAsync(() => limits.Pending == pendingBefore + count, because: $"the hub holds the {count} silent connections");
        return silent;
    }

    /// <summary>Moves the fake clock past the handshake timeout (one-second sweeps), then checks that every silent
    /// connection got bye <see cref="ErrorCode.HandshakeTimeout"/>, and closes them, as a peer does after a bye.</summary>
    private static async Task PassHandshakeTimeoutAsync(HubFixture fixture, FakeTimeProvider time, List<RawProtocolClient> silent)
    {
        for (var i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(15);
        }

        foreach (var client in silent)
        {
            Assert.Equal(ErrorCode.HandshakeTimeout, (await client.ReceiveAsync<Bye>(AtOnce)).Code);
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Beyond_the_pending_cap_new_connections_are_reset_at_once_until_the_silent_ones_time_out()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, maxConnections: 100, maxPending: 4);
        var limits = fixture.Hub.Sessions.Limits;
        Assert.Equal(4, limits.MaxPendingHandshakes);
        var agents = new List<RawProtocolClient> { await ConnectAgentAsync(fixture, "early-1"), await ConnectAgentAsync(fixture, "early-2") };
        await ReportAsync(agents, 1);

        var silent = await OpenSilentAsync(fixture, 4);
        for (var i = 0; i < 3; i++)
        {
            await AssertResetAtOnceAsync(fixture, "a connection beyond the pending cap is reset at once");
        }

        // An honest agent is a new connection like any other until its hello is read: it is reset too, and retries.
        await AssertResetAtOnceAsync(fixture, "an agent beyond the pending cap is reset", RawProtocolClient.MakeHello("too-early", Token));

        Assert.Equal(4, limits.RefusedOverPending);
        Assert.Equal(0, limits.RefusedOverConnections);
        Assert.Equal(4, limits.Pending);
        await ReportAsync(agents, 2);

        await PassHandshakeTimeoutAsync(fixture, time, silent);
        Assert.Equal(4, limits.HandshakeTimeouts);
        await HubFixture.WaitUntilAsync(() => limits.Pending == 0, because: "the silent connections left the handshake");
        agents.Add(await ConnectAgentAsync(fixture, "late-1"));
        await ReportAsync(agents, 3);
        Assert.Equal(4, limits.PendingPeak);

        foreach (var agent in agents)
        {
            await agent.DisposeAsync();
        }
    }

    [Fact]
    public async Task Beyond_the_connection_cap_new_connections_are_reset_at_once_and_counted_in_the_stats()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, maxConnections: 6, maxPending: 100);
        var limits = fixture.Hub.Sessions.Limits;
        Assert.Equal(6, limits.MaxConnections);
        Assert.Equal(6, limits.MaxPendingHandshakes); // never more than the connection cap
        var agents = new List<RawProtocolClient>();
        for (var i = 0; i < 4; i++)
        {
            agents.Add(await ConnectAgentAsync(fixture, $"agent-{i}"));
        }

        var silent = await OpenSilentAsync(fixture, 2);
        Assert.Equal(6, limits.Open);
        await AssertResetAtOnceAsync(fixture, "a connection beyond the connection cap is reset at once");
        await AssertResetAtOnceAsync(fixture, "an agent beyond the cap is reset before its hello is read", RawProtocolClient.MakeHello("agent-late", Token));

        Assert.Equal(2, limits.RefusedOverConnections);
        await ReportAsync(agents, 1);

        using var http = fixture.CreateApiClient();
        var stats = await http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        Assert.Equal(new ConnectionsView(6, 6, 2, 6, 2, 2, 0, 0, 0, NoRateLimits), stats!.Connections);
        Assert.Equal(6, stats.Capacity);

        await PassHandshakeTimeoutAsync(fixture, time, silent);
        await HubFixture.WaitUntilAsync(() => limits.Open == 4, because: "the silent connections' sockets were released");
        agents.Add(await ConnectAgentAsync(fixture, "agent-late"));
        await ReportAsync(agents, 2);
        stats = await http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        Assert.Equal(new ConnectionsView(5, 6, 0, 6, 2, 2, 0, 2, 0, NoRateLimits), stats!.Connections);

        foreach (var agent in agents)
        {
            await agent.DisposeAsync();
        }
    }
}
