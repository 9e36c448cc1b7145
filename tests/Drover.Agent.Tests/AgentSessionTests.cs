using System.Net;
using System.Net.Sockets;
using Drover.Agent.Internal.Session;
using Drover.Protocol;

namespace Drover.Agent.Tests;

/// <summary>A real agent against the in-process <see cref="TestHub"/> over real sockets on 127.0.0.1,
/// with a fake clock: time moves only when a test advances it.</summary>
public sealed class AgentSessionTests : AgentHarness
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task Hello_carries_versions_id_token_version_labels_capabilities_and_slots()
    {
        var hub = NewHub();
        var options = Options(hub.Address) with
        {
            Labels = new Dictionary<string, string> { ["zone"] = "a", ["role"] = "web" },
            Capabilities = ["run", "files"],
            JobSlots = 4,
            JobHandler = new ProcessJobHandler("true"),
            WorkDirectory = NewTempDirectory(),
            AgentVersion = "9.9.9",
        };
        var run = StartAgent(options);

        await Wait.UntilAsync(() => run.Agent.ConnectionState == AgentConnectionState.Connected, "connected");
        var hello = hub.Latest!.Hello!;
        Assert.Equal(ProtocolConstants.MinVersion, hello.MinVersion);
        Assert.Equal(ProtocolConstants.MaxVersion, hello.MaxVersion);
        Assert.Equal("test-agent", hello.AgentId);
        Assert.Equal("secret", hello.Credential);
        Assert.Equal("9.9.9", hello.AgentVersion);
        Assert.Equal("a", hello.Labels["zone"]);
        Assert.Equal("web", hello.Labels["role"]);
        Assert.Equal(["run", "files"], hello.Capabilities);
        Assert.Equal(4, hello.JobSlots);
        Assert.Equal(hub.Address, run.Agent.CurrentHub);
        Assert.Equal("test-hub", run.Agent.LastWelcome!.HubId);
        Assert.Equal(1, run.Agent.Sessions);
        Assert.Equal(0, run.Agent.Reconnects);
    }

    [Fact]
    public async Task First_report_goes_out_at_welcome_and_the_next_ones_on_the_hub_time_slot()
    {
        var hub = NewHub();
        hub.IntervalMs = 1000;
        hub.SlotOffsetMs = 300;
        hub.ClockSkewMs = 12_345; // the hub's clock is 12.345 s ahead of the agent's
        var run = StartAgent(Options(hub.Address), a => a.SetField("custom", FieldValue.From("x")));

        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count == 1, "first report");
        var first = hub.Latest!.Statuses[0];
        Assert.Equal(1UL, first.Sequence);
        Assert.Equal(AgentState.Idle, first.State);
        Assert.Equal(ProtocolConstants.NoProgress, first.Progress);
        Assert.Equal("x", Assert.Single(first.Fields, f => f.Key == "custom").Value.Text);

        // Welcome at local Start means hub time Start+12345; the next hub time ≡ 300 (mod 1000) is Start+13300,
        // which is local Start+955. Jitter is at most min(20, 1000/100) = 10 ms.
        Time.Advance(954 * Ms);
        await Wait.SettleAsync();
        Assert.Single(hub.Latest.Statuses);

        Time.Advance(11 * Ms);
        await Wait.UntilAsync(() => hub.Latest.Statuses.Count == 2, "second report on the slot");
        var (second, at) = hub.Latest.StatusesWithTime[1];
        Assert.Equal(2UL, second.Sequence);
        Assert.InRange(at, Start + (955 * Ms), Start + (965 * Ms));

        Time.Advance(989 * Ms); // Start+1954: one ms before the following slot
        await Wait.SettleAsync();
        Assert.Equal(2, hub.Latest.Statuses.Count);

        Time.Advance(11 * Ms);
        await Wait.UntilAsync(() => hub.Latest.Statuses.Count == 3, "third report on the next slot");
        Assert.Equal(3UL, hub.Latest.Statuses[2].Sequence);
        await Wait.UntilAsync(() => run.Agent.ReportsAcked == 3, "three acks");
        Assert.Equal(3, run.Agent.ReportsSent);
    }

    [Fact]
    public async Task Reschedule_moves_the_next_report_to_the_new_interval_and_slot()
    {
        var hub = NewHub();
        hub.IntervalMs = 1000;
        hub.SlotOffsetMs = 300;
        hub.ClockSkewMs = 12_345;
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count == 1, "first report");

        await hub.Latest!.SendAsync(new Reschedule(500, 100));
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Rescheduled).Count == 1, "rescheduled");

        // Hub time Start+12345: the next t ≡ 100 (mod 500) is Start+12600, local Start+255; jitter ≤ 5 ms.
        Time.Advance(254 * Ms);
        await Wait.SettleAsync();
        Assert.Single(hub.Latest.Statuses);

        Time.Advance(6 * Ms);
        await Wait.UntilAsync(() => hub.Latest.Statuses.Count == 2, "report on the new slot");
        Assert.InRange(hub.Latest.StatusesWithTime[1].At, Start + (255 * Ms), Start + (260 * Ms));

        // The old slot (local Start+955) is gone; the next is local Start+755.
        Time.Advance(500 * Ms);
        await Wait.UntilAsync(() => hub.Latest.Statuses.Count == 3, "report 500 ms later");
        Time.Advance(230 * Ms); // Start+990
        await Wait.SettleAsync();
        Assert.Equal(3, hub.Latest.Statuses.Count);
    }

    [Fact]
    public async Task Refuse_with_retry_after_is_honoured()
    {
        var hub = NewHub();
        hub.Answer = (_, index) => index == 0 ? new Refuse(ErrorCode.Overloaded, 5000, "admission limit") : hub.CreateWelcome();
        var run = StartAgent(Options(hub.Address));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "refused");
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Refused, disconnected.Reason);
        Assert.Equal(ErrorCode.Overloaded, disconnected.Code);
        Assert.InRange(disconnected.RetryIn!.Value, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(6));

        Time.Advance(4999 * Ms);
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);

        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected,
            "reconnected after the retry-after", 20 * Ms, TimeSpan.FromSeconds(1.5));
        Assert.Equal(2, hub.ConnectionCount);
        Assert.Equal(1, run.Agent.Reconnects);
    }

    /// <summary>RateLimited (17, the hub's limits per address and per agent id): not permanent, and the agent waits at least
    /// the retry-after, even one far beyond its own backoff cap (30 s), plus a spread of up to a fifth of it.</summary>
    [Fact]
    public async Task Rate_limited_refusal_waits_its_retry_after_even_beyond_the_backoff_cap()
    {
        var hub = NewHub();
        hub.Answer = (_, index) => index == 0 ? new Refuse(ErrorCode.RateLimited, 300_000, "agent id flaps; retry after 300000 ms") : hub.CreateWelcome();
        var run = StartAgent(Options(hub.Address));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "refused");
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Refused, disconnected.Reason);
        Assert.Equal(ErrorCode.RateLimited, disconnected.Code);
        Assert.InRange(disconnected.RetryIn!.Value, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(6));

        Time.Advance(TimeSpan.FromMinutes(5) - Ms);
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);

        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected,
            "reconnected after the retry-after", TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1.5));
        Assert.Equal(2, hub.ConnectionCount);
    }

    [Theory]
    [InlineData(ErrorCode.AuthenticationFailed)]
    [InlineData(ErrorCode.InvalidAgentId)]
    [InlineData(ErrorCode.UnsupportedVersion)]
    [InlineData(ErrorCode.AgentKeyMismatch)]
    [InlineData(ErrorCode.CredentialRevoked)]
    public async Task Permanent_refusal_ends_the_run_with_AgentRefusedException(ErrorCode code)
    {
        var hub = NewHub();
        hub.Answer = (_, _) => new Refuse(code, 0, "go away");
        var run = StartAgent(Options(hub.Address));

        var ex = await Assert.ThrowsAsync<AgentRefusedException>(() => run.Run.WaitAsync(Wait.RealTimeout));
        Assert.Equal(code, ex.Code);
        Assert.Equal("go away", ex.Reason);
        Assert.Equal(hub.Address, ex.Hub);
        Assert.Contains("go away", ex.Message, StringComparison.Ordinal);
        Assert.Equal(AgentConnectionState.Disconnected, run.Agent.ConnectionState);
        Assert.Equal(1, hub.ConnectionCount);
    }

    [Fact]
    public async Task Hub_vanishing_moves_the_agent_to_the_next_hub_which_gets_the_backlog_with_original_sequences()
    {
        var hubs = new[] { NewHub("h0"), NewHub("h1"), NewHub("h2") };
        foreach (var h in hubs)
        {
            h.IntervalMs = 100;
        }

        var order = HubSelector.Rank("test-agent", hubs.Select(h => h.Address).ToArray());
        var preferred = hubs.Single(h => h.Address == order[0]);
        var next = hubs.Single(h => h.Address == order[1]);
        var run = StartAgent(Options(hubs.Select(h => h.Address).ToArray()));

        await Wait.UntilAsync(() => preferred.Latest?.Statuses.Count >= 1, "first report to the preferred hub");
        await Wait.AdvanceUntilAsync(Time, () => preferred.Latest!.Statuses.Count >= 3, "three reports", 10 * Ms, TimeSpan.FromSeconds(1));

        await preferred.StopAsync();
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "disconnected");
        var lastBefore = preferred.Latest!.Statuses.Max(s => s.Sequence);
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.HubClosed, disconnected.Reason);
        Assert.InRange(disconnected.RetryIn!.Value, 250 * Ms, 500 * Ms); // first attempt after a welcome

        // While disconnected, a sample is taken at each 100 ms slot; two fall within 240 ms, before the
        // earliest reconnect at 250 ms.
        await Wait.AdvanceUntilAsync(Time, () => run.Agent.BacklogCount >= 2, "two backlogged samples", 10 * Ms, 240 * Ms);
        var backlogged = run.Agent.BacklogCount;
        Assert.Equal(0, next.ConnectionCount);

        await Wait.AdvanceUntilAsync(Time, () => next.Latest?.Statuses.Count >= backlogged + 1, "backlog and a live report at the next hub",
            10 * Ms, TimeSpan.FromSeconds(1));
        Assert.Equal(next.Address, run.Agent.CurrentHub);
        Assert.Equal(0, hubs.Single(h => h.Address == order[2]).ConnectionCount);
        Assert.Equal(0, run.Agent.BacklogCount);

        var sequences = next.Latest!.Statuses.Select(s => s.Sequence).ToArray();
        for (var i = 0; i < sequences.Length; i++)
        {
            Assert.Equal(lastBefore + 1 + (ulong)i, sequences[i]);
        }
    }

    [Fact]
    public async Task A_dead_preferred_hub_sends_the_agent_to_the_next_one()
    {
        var dead = new TcpListener(IPAddress.Loopback, 0);
        dead.Start();
        var deadAddress = $"127.0.0.1:{((IPEndPoint)dead.LocalEndpoint).Port}";
        dead.Stop();
        var live = NewHub();
        var hubs = new[] { live.Address, deadAddress };
        var id = Enumerable.Range(0, 100).Select(i => $"agent-{i}").First(id => HubSelector.Rank(id, hubs)[0] == deadAddress);

        var run = StartAgent(Options(hubs) with { AgentId = id });

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "connect failed");
        Assert.Equal(DisconnectReason.ConnectFailed, run.Events.Of(AgentEventKind.Disconnected)[0].Reason);
        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected,
            "connected to the live hub", 10 * Ms, TimeSpan.FromSeconds(1));
        Assert.Equal(live.Address, run.Agent.CurrentHub);
        Assert.Equal(id, live.Latest!.Hello!.AgentId);
    }

    [Fact]
    public async Task Redirect_moves_the_agent_to_the_new_hub_list()
    {
        var first = NewHub("first");
        var second = NewHub("second");
        var run = StartAgent(Options(first.Address));
        await Wait.UntilAsync(() => first.Latest?.Statuses.Count >= 1, "connected to the first hub");

        await first.Latest!.SendAndCloseAsync(new Redirect([second.Address], "rebalancing"));

        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected && run.Agent.CurrentHub == second.Address,
            "connected to the second hub", 10 * Ms, TimeSpan.FromSeconds(1));
        Assert.Equal("second", run.Agent.LastWelcome!.HubId);
        Assert.Equal(DisconnectReason.Redirect, run.Events.Of(AgentEventKind.Disconnected)[0].Reason);
        Assert.Equal(1, first.ConnectionCount);
    }

    [Fact]
    public async Task Ping_is_answered_with_pong()
    {
        var hub = NewHub();
        StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendAsync(new Ping(0xC0FFEE));

        await Wait.UntilAsync(() => hub.Latest.ReceivedOf<Pong>().Count == 1, "pong");
        Assert.Equal(0xC0FFEEUL, hub.Latest.ReceivedOf<Pong>()[0].Value);
    }

    [Fact]
    public async Task Cancelling_says_bye_and_completes_the_run()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await run.Cts.CancelAsync();
        await run.Run.WaitAsync(Wait.RealTimeout);

        await Wait.UntilAsync(() => hub.Latest!.ReceivedOf<Bye>().Count == 1, "bye");
        var bye = hub.Latest!.ReceivedOf<Bye>()[0];
        Assert.Equal(ErrorCode.None, bye.Code);
        Assert.Equal("agent stopping", bye.Reason);
        Assert.Equal(AgentConnectionState.Disconnected, run.Agent.ConnectionState);
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Stopped).Count == 1, "stopped event");
    }

    [Fact]
    public async Task A_bye_that_says_the_credential_is_revoked_ends_the_run_without_a_reconnect()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendAndCloseAsync(new Bye(ErrorCode.CredentialRevoked, "revoked by an operator"));

        var ex = await Assert.ThrowsAsync<AgentRefusedException>(() => run.Run.WaitAsync(Wait.RealTimeout));
        Assert.Equal((ErrorCode.CredentialRevoked, "revoked by an operator"), (ex.Code, ex.Reason));
        Time.Advance(TimeSpan.FromMinutes(1));
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);
    }

    [Fact]
    public async Task A_pending_approval_is_retried_after_its_retry_after()
    {
        var hub = NewHub();
        hub.Answer = (_, index) => index == 0 ? new Refuse(ErrorCode.PendingApproval, 10_000, "waits for an operator") : hub.CreateWelcome();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "refused, pending");
        Assert.Equal(ErrorCode.PendingApproval, run.Events.Of(AgentEventKind.Disconnected)[0].Code);

        Time.Advance(TimeSpan.FromSeconds(10) - Ms);
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);
        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected,
            "welcomed after approval", 100 * Ms, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Session_replaced_waits_at_least_the_backoff_cap()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address) with { BackoffCap = TimeSpan.FromSeconds(3) });
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendAndCloseAsync(new Bye(ErrorCode.SessionReplaced, "a newer session took over"));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "disconnected");
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Bye, disconnected.Reason);
        Assert.Equal(ErrorCode.SessionReplaced, disconnected.Code);
        Assert.True(disconnected.RetryIn >= TimeSpan.FromSeconds(3), $"retry in {disconnected.RetryIn}");

        Time.Advance(2999 * Ms);
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 2, "reconnected", 20 * Ms, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Backoff_from_the_hub_delays_the_reconnect_to_the_same_hub()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendAndCloseAsync(new Backoff(4000, "shedding load"));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "disconnected");
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Backoff, disconnected.Reason);
        Assert.True(disconnected.RetryIn >= TimeSpan.FromSeconds(4), $"retry in {disconnected.RetryIn}");

        Time.Advance(3999 * Ms);
        await Wait.SettleAsync();
        Assert.Equal(1, hub.ConnectionCount);
        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected && hub.ConnectionCount == 2,
            "reconnected", 20 * Ms, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Hub_shutting_down_is_followed_by_a_short_jittered_backoff()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendAndCloseAsync(new Bye(ErrorCode.ShuttingDown, "restarting"));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "disconnected");
        Assert.InRange(run.Events.Of(AgentEventKind.Disconnected)[0].RetryIn!.Value, 250 * Ms, 500 * Ms);
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 2 && run.Agent.ConnectionState == AgentConnectionState.Connected,
            "reconnected", 10 * Ms, TimeSpan.FromSeconds(1));
        Assert.Equal(2, run.Agent.Sessions);
    }

    [Fact]
    public async Task Report_carries_state_progress_custom_and_provider_fields_within_the_hub_field_limit()
    {
        var hub = NewHub();
        hub.MaxStatusFields = 2;
        var options = Options(hub.Address) with
        {
            StatusProvider = _ => ValueTask.FromResult<IReadOnlyDictionary<string, FieldValue>>(
                new Dictionary<string, FieldValue> { ["a"] = FieldValue.From("from provider"), ["p"] = FieldValue.From(1L) }),
        };
        StartAgent(options, agent =>
        {
            agent.SetField("a", FieldValue.From(1L));
            agent.SetField("b", FieldValue.From(true));
            agent.SetState(AgentState.Busy);
            agent.SetProgress(40);
        });

        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count == 1, "first report");
        var status = hub.Latest!.Statuses[0];
        Assert.Equal(AgentState.Busy, status.State);
        Assert.Equal(40, status.Progress);
        Assert.Equal(2, status.Fields.Count);
        Assert.Equal(new("a", FieldValue.From("from provider")), status.Fields[0]);
        Assert.Equal(new("b", FieldValue.From(true)), status.Fields[1]);
    }

    [Fact]
    public async Task A_failing_status_provider_does_not_stop_the_report()
    {
        var hub = NewHub();
        var options = Options(hub.Address) with
        {
            StatusProvider = _ => throw new InvalidOperationException("provider broke"),
        };
        StartAgent(options, agent => agent.SetField("kept", FieldValue.From(2.5)));

        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count == 1, "first report");
        Assert.Equal("kept", Assert.Single(hub.Latest!.Statuses[0].Fields).Key);
    }

    [Fact]
    public async Task System_metrics_are_reported_when_proc_is_readable()
    {
        if (!File.Exists("/proc/loadavg") || !File.Exists("/proc/meminfo"))
        {
            return; // not Linux: nothing to report
        }

        var hub = NewHub();
        StartAgent(Options(hub.Address) with { IncludeSystemMetrics = true });

        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count == 1, "first report");
        var keys = hub.Latest!.Statuses[0].Fields.Select(f => f.Key).ToArray();
        Assert.Equal(["load1", "load5", "load15", "mem_total_bytes", "mem_available_bytes"], keys);
        Assert.Equal(FieldKind.Float, hub.Latest.Statuses[0].Fields[0].Value.Kind);
        Assert.Equal(FieldKind.Int, hub.Latest.Statuses[0].Fields[3].Value.Kind);
    }

    [Fact]
    public async Task A_welcome_that_lands_exactly_on_the_slot_gives_one_report_until_the_next_slot()
    {
        var hub = NewHub(); // interval 1000, slot 0, no skew: the welcome at Start is exactly on a slot
        StartAgent(Options(hub.Address));

        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "first report");
        await Wait.SettleAsync();
        Assert.Single(hub.Latest!.Statuses);

        Time.Advance(TimeSpan.FromMilliseconds(1011));
        await Wait.UntilAsync(() => hub.Latest.Statuses.Count == 2, "the report of the next slot");
    }

    [Fact]
    public async Task No_answer_to_hello_is_a_handshake_timeout_followed_by_a_retry()
    {
        var hub = NewHub();
        hub.Answer = (_, index) => index == 0 ? null : hub.CreateWelcome();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Hello is not null, "hello");

        Time.Advance(TimeSpan.FromMilliseconds(9999));
        await Wait.SettleAsync();
        Assert.Equal(AgentConnectionState.Connecting, run.Agent.ConnectionState);

        Time.Advance(TimeSpan.FromMilliseconds(1));
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "handshake timeout");
        Assert.Equal(DisconnectReason.HandshakeTimeout, run.Events.Of(AgentEventKind.Disconnected)[0].Reason);
        await Wait.AdvanceUntilAsync(Time, () => run.Agent.ConnectionState == AgentConnectionState.Connected, "welcomed on the retry",
            10 * Ms, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_malformed_frame_from_the_hub_gets_a_bye_with_the_code_and_a_reconnect()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");

        await hub.Latest!.SendRawAsync([0, 0, 0, 0, 0x7F]); // an empty frame of an unknown type

        await Wait.UntilAsync(() => hub.Latest.ReceivedOf<Bye>().Count == 1, "bye");
        Assert.Equal(ErrorCode.UnknownMessageType, hub.Latest.ReceivedOf<Bye>()[0].Code);
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1, "disconnected");
        Assert.Equal(DisconnectReason.ProtocolError, run.Events.Of(AgentEventKind.Disconnected)[0].Reason);
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 2 && run.Agent.ConnectionState == AgentConnectionState.Connected,
            "reconnected", 10 * Ms, TimeSpan.FromSeconds(1));
    }
}
