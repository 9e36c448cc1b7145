using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Liveness, managed restart, coalescing and scheduling with a <see cref="FakeTimeProvider"/>:
/// the hub's sweep and flush run when the test advances the clock, over real sockets.</summary>
public sealed class HubLivenessTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-06-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static Task<HubFixture> StartAsync(FakeTimeProvider time, string? data = null, Func<HubOptions, HubOptions>? more = null) =>
        HubFixture.StartAsync(
            o =>
            {
                var options = o with
                {
                    TimeProvider = time,
                    ReportInterval = TimeSpan.FromSeconds(10),
                    LateGrace = TimeSpan.FromSeconds(2),
                    SweepInterval = TimeSpan.FromSeconds(1),
                    FlushInterval = TimeSpan.FromSeconds(1),
                };
                return more?.Invoke(options) ?? options;
            },
            data);

    /// <summary>Advances fake time in one-second steps, letting the hub's loops run between steps.</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < by; elapsed += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(15);
        }
    }

    private static async Task<RawProtocolClient> ConnectAsync(HubFixture fixture, string id)
    {
        var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id)));
        return client;
    }

    [Fact]
    public async Task A_silent_agent_goes_late_then_lost_and_is_disconnected_with_a_reason()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await AdvanceAsync(time, TimeSpan.FromSeconds(13)); // past the restart grace (interval + grace)
        await using var client = await ConnectAsync(fixture, "quiet");
        Assert.True(fixture.Hub.Registry.TryGet("quiet", out var entry));

        await AdvanceAsync(time, TimeSpan.FromSeconds(11));
        Assert.Equal(Presence.Online, entry.Presence); // within interval + grace

        await AdvanceAsync(time, TimeSpan.FromSeconds(3));
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Late, because: "late after interval + grace");

        await AdvanceAsync(time, TimeSpan.FromSeconds(20));
        var bye = await client.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.IdleTimeout, bye.Code);
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Lost);
        Assert.StartsWith($"{DisconnectReason.MissedReports}:", entry.LastDisconnectReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_back_from_late_or_back_after_a_reconnect_is_late_again_on_time()
    {
        // The sweep looks at an agent only when its deadline comes (Fleet/LivenessDeadlines.cs): a report or a new session
        // must never leave it queued past the moment it is late again.
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await AdvanceAsync(time, TimeSpan.FromSeconds(13)); // past the restart grace
        var client = await ConnectAsync(fixture, "comeback");
        Assert.True(fixture.Hub.Registry.TryGet("comeback", out var entry));
        await AdvanceAsync(time, TimeSpan.FromSeconds(14));
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Late, because: "late after interval + grace");

        // Back online with a report; silent again, it is late 12 s later (interval + grace), long before it would be lost.
        await client.SendAsync(RawProtocolClient.MakeStatus(1));
        await client.ReceiveAsync<StatusAck>();
        Assert.Equal(Presence.Online, entry.Presence);
        await AdvanceAsync(time, TimeSpan.FromSeconds(11));
        Assert.Equal(Presence.Online, entry.Presence);
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Late, because: "late again one interval plus grace after its report");

        // Gone (lost, next look at its stale age, an hour away), then back with a new session: late again on time.
        await client.DisposeAsync();
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Lost, because: "its session closed");
        await AdvanceAsync(time, TimeSpan.FromSeconds(5));
        await using var again = await ConnectAsync(fixture, "comeback");
        Assert.Equal(Presence.Online, entry.Presence);
        await AdvanceAsync(time, TimeSpan.FromSeconds(11));
        Assert.Equal(Presence.Online, entry.Presence);
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Late, because: "late one interval plus grace after its new session");
    }

    [Fact]
    public async Task A_reporting_agent_stays_online()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await using var client = await ConnectAsync(fixture, "diligent");
        for (ulong seq = 1; seq <= 6; seq++)
        {
            await client.SendAsync(RawProtocolClient.MakeStatus(seq));
            await client.ReceiveAsync<StatusAck>();
            await AdvanceAsync(time, TimeSpan.FromSeconds(10));
        }

        Assert.True(fixture.Hub.Registry.TryGet("diligent", out var entry));
        Assert.Equal(Presence.Online, entry.Presence);
    }

    [Fact]
    public async Task Lost_agents_become_stale_then_retired()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, more: o => o with { StaleAfter = TimeSpan.FromSeconds(30), RetireAfter = TimeSpan.FromSeconds(60) });
        await AdvanceAsync(time, TimeSpan.FromSeconds(13));
        var client = await ConnectAsync(fixture, "fading");
        await client.DisposeAsync();
        Assert.True(fixture.Hub.Registry.TryGet("fading", out var entry));
        await HubFixture.WaitUntilAsync(() => entry.Presence == Presence.Lost);

        await AdvanceAsync(time, TimeSpan.FromSeconds(32));
        Assert.Equal(Presence.Stale, entry.Presence);
        await AdvanceAsync(time, TimeSpan.FromSeconds(30));
        Assert.False(fixture.Hub.Registry.TryGet("fading", out _));
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        var stored = await fixture.Store.GetAgentAsync("fading", CancellationToken.None);
        Assert.Equal(Presence.Retired, stored!.Presence);
    }

    [Fact]
    public async Task After_a_restart_nobody_is_marked_lost_until_one_interval_plus_grace()
    {
        var data = HubFixture.NewDataDirectory();
        var time = new FakeTimeProvider(Start);
        var first = await StartAsync(time, data);
        var clients = new List<RawProtocolClient>();
        for (var i = 0; i < 5; i++)
        {
            var client = await ConnectAsync(first, $"fleet-{i}");
            await client.SendAsync(RawProtocolClient.MakeStatus(1));
            await client.ReceiveAsync<StatusAck>();
            clients.Add(client);
        }

        await AdvanceAsync(time, TimeSpan.FromSeconds(2)); // flush
        // A crash-like stop: sockets die with the hub.
        await first.StopAsync();
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await using var second = await StartAsync(time, data);
        Assert.Equal(5, second.Hub.Registry.Count);
        await using var back = await ConnectAsync(second, "fleet-0");

        await AdvanceAsync(time, TimeSpan.FromSeconds(11));
        Assert.All(second.Hub.Registry.Entries, e => Assert.NotEqual(Presence.Lost, e.Presence));
        await back.SendAsync(RawProtocolClient.MakeStatus(2));
        await back.ReceiveAsync<StatusAck>();

        await AdvanceAsync(time, TimeSpan.FromSeconds(3));
        await HubFixture.WaitUntilAsync(() => second.Hub.Registry.Entries.Count(e => e.Presence == Presence.Lost) == 4);
        Assert.True(second.Hub.Registry.TryGet("fleet-1", out var gone));
        Assert.Contains("restart", gone.LastDisconnectReason, StringComparison.Ordinal);
        Assert.True(second.Hub.Registry.TryGet("fleet-0", out var returned));
        Assert.Equal(Presence.Online, returned.Presence);
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task Reports_are_coalesced_one_write_per_agent_per_flush()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await using var client = await ConnectAsync(fixture, "burst");
        for (ulong seq = 1; seq <= 50; seq++)
        {
            await client.SendAsync(RawProtocolClient.MakeStatus(seq, AgentState.Busy, ("n", FieldValue.From((long)seq))));
            await client.ReceiveAsync<StatusAck>();
        }

        var rowsBefore = fixture.Hub.Writer.RowsWritten;
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Writer.RowsWritten > rowsBefore);
        var stored = await fixture.Store.GetAgentAsync("burst", CancellationToken.None);
        Assert.Equal(50ul, stored!.Status!.Sequence);
        Assert.Contains("\"n\":50", stored.Status.FieldsJson, StringComparison.Ordinal);
        var history = await fixture.Store.GetStatusHistoryAsync("burst", 100, CancellationToken.None);
        Assert.Single(history); // fifty reports, one flush: one sample
        Assert.Equal(1, fixture.Hub.Writer.RowsWritten - rowsBefore);
    }

    [Fact]
    public async Task A_new_agent_whose_registration_is_being_committed_when_the_interval_stretches_gets_its_welcome_first()
    {
        // The protocol's answer to a hello is one welcome or one refuse. A new agent's session is in the registry while
        // its registration commits, so a reschedule broadcast then reached it before its welcome and the agent (ours
        // too) dropped the session as a protocol error: 968 of 19,000 simulated agents in one connect storm.
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, more: o => o with { MaxReportsPerSecond = 2 });
        var clients = new List<RawProtocolClient>();
        for (var i = 0; i < 20; i++)
        {
            clients.Add(await ConnectAsync(fixture, $"fits-{i}"));
        }

        // Another writer holds the store, so the 21st agent's registration waits for its commit.
        await using (var blocker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(fixture.DataDirectory, "drover.db")};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using (var hold = blocker.CreateCommand())
            {
                hold.CommandText = "BEGIN IMMEDIATE;";
                await hold.ExecuteNonQueryAsync();
            }

            var late = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            clients.Add(late);
            await late.SendAsync(RawProtocolClient.MakeHello("one-too-many"));
            await HubFixture.WaitUntilAsync(() => fixture.Hub.Registry.Connected == 21, because: "the session is attached before its commit");
            await AdvanceAsync(time, TimeSpan.FromSeconds(1));
            await HubFixture.WaitUntilAsync(() => fixture.Hub.CurrentInterval == TimeSpan.FromMilliseconds(12_500), because: "21 agents at 2 reports/s need 10.5 s, stepped by a quarter");
            await using (var release = blocker.CreateCommand())
            {
                release.CommandText = "ROLLBACK;";
                await release.ExecuteNonQueryAsync();
            }
        }

        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        var welcome = Assert.IsType<Welcome>(await clients[^1].ReceiveAsync());
        Assert.Equal(12_500u, welcome.IntervalMs);
        Assert.Equal(12_500u, (await clients[0].ReceiveAsync<Reschedule>()).IntervalMs);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_interval_stretches_when_the_fleet_exceeds_the_report_rate_and_agents_are_told()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, more: o => o with { MaxReportsPerSecond = 2 });
        var clients = new List<RawProtocolClient>();
        for (var i = 0; i < 40; i++)
        {
            clients.Add(await ConnectAsync(fixture, $"grow-{i}"));
        }

        await AdvanceAsync(time, TimeSpan.FromSeconds(1));
        var reschedule = await clients[0].ReceiveAsync<Reschedule>();
        Assert.Equal(20_000u, reschedule.IntervalMs);
        Assert.Equal(TimeSpan.FromSeconds(20), fixture.Hub.CurrentInterval);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }
}
