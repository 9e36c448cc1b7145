using System.Diagnostics;
using System.Net.Http.Json;
using System.Net;
using Drover.Agent;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The real agent library against the real hub, in one process, over real sockets.</summary>
public sealed class HubWithRealAgentsTests
{
    private static AgentOptions AgentFor(string id, params IPEndPoint[] hubs) => new()
    {
        Hubs = hubs.Select(h => $"127.0.0.1:{h.Port}").ToList(),
        AgentId = id,
        Trust = HubTrust.Insecure, // the fixture's hub is plain TCP
        BackoffBase = TimeSpan.FromMilliseconds(100),
        BackoffCap = TimeSpan.FromSeconds(1),
    };

    private static async Task<(List<DroverAgent> Agents, List<Task> Runs, CancellationTokenSource Stop)> StartAgentsAsync(IEnumerable<AgentOptions> options)
    {
        var stop = new CancellationTokenSource();
        var agents = options.Select(o => new DroverAgent(o)).ToList();
        var runs = agents.Select(a => a.RunAsync(stop.Token)).ToList();
        await Task.Yield();
        return (agents, runs, stop);
    }

    private static async Task StopAsync(List<DroverAgent> agents, List<Task> runs, CancellationTokenSource stop)
    {
        await stop.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15));
        foreach (var agent in agents)
        {
            await agent.DisposeAsync();
        }

        stop.Dispose();
    }

    [Fact]
    public async Task Agents_report_on_distinct_slots_and_the_hub_records_their_status()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1) });
        var (agents, runs, stop) = await StartAgentsAsync(Enumerable.Range(0, 20).Select(i => AgentFor($"real-{i}", fixture.AgentEndPoint)));
        agents[0].SetState(AgentState.Busy);
        agents[0].SetField("queue", FieldValue.From(7L));

        await HubFixture.WaitUntilAsync(() => agents.All(a => a.ReportsAcked >= 3), because: "every agent has three reports acked");
        Assert.Equal(20, fixture.Hub.ConnectedAgents);
        Assert.Equal(20, agents.Select(a => a.LastWelcome!.SlotOffsetMs).Distinct().Count());
        Assert.True(fixture.Hub.Registry.TryGet("real-0", out var entry));
        var status = LatestStatus(entry)!;
        Assert.Equal(AgentState.Busy, status.State);
        Assert.Contains(status.Fields, f => f.Key == "queue" && f.Value.Integer == 7);
        Assert.Contains(status.Fields, f => f.Key == "mem_total_bytes");

        await StopAsync(agents, runs, stop);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.ConnectedAgents == 0, because: "agents said bye");
        Assert.All(fixture.Hub.Registry.Entries, e => Assert.StartsWith($"{DisconnectReason.AgentClosed}: agent said bye", e.LastDisconnectReason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task After_a_hub_restart_agents_reconnect_with_a_newer_epoch_the_same_slot_and_their_sequence_continues()
    {
        var data = HubFixture.NewDataDirectory();
        var first = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1) }, data);
        var port = first.AgentEndPoint.Port;
        var (agents, runs, stop) = await StartAgentsAsync(Enumerable.Range(0, 10).Select(i => AgentFor($"phoenix-{i}", first.AgentEndPoint)));
        await HubFixture.WaitUntilAsync(() => agents.All(a => a.ReportsAcked >= 2));
        var epochsBefore = agents.ToDictionary(a => a.AgentId, a => a.LastWelcome!.SessionEpoch);
        var slotsBefore = agents.ToDictionary(a => a.AgentId, a => a.LastWelcome!.SlotOffsetMs);
        var sequenceBefore = agents.ToDictionary(a => a.AgentId, a => a.LastSequence);
        await first.StopAsync();

        await using var second = await HubFixture.StartAsync(
            o => o with { ReportInterval = TimeSpan.FromSeconds(1), AgentEndPoint = new IPEndPoint(IPAddress.Loopback, port) }, data);
        await HubFixture.WaitUntilAsync(() => second.Hub.ConnectedAgents == 10 && agents.All(a => a.Sessions >= 2), because: "all agents are back");
        await HubFixture.WaitUntilAsync(() => second.Hub.ReportsRecorded >= 10);
        foreach (var agent in agents)
        {
            Assert.True(agent.LastWelcome!.SessionEpoch > epochsBefore[agent.AgentId]);
            Assert.Equal(slotsBefore[agent.AgentId], agent.LastWelcome.SlotOffsetMs); // the slot survives the restart
            Assert.True(agent.LastSequence > sequenceBefore[agent.AgentId]);
        }

        Assert.All(second.Hub.Registry.Entries, e => Assert.Equal(Presence.Online, e.Presence));
        await StopAsync(agents, runs, stop);
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task Agents_spread_over_two_hubs_and_fail_over_when_one_dies()
    {
        var a = await HubFixture.StartAsync(o => o with { HubId = "hub-a", ReportInterval = TimeSpan.FromSeconds(1) });
        await using var b = await HubFixture.StartAsync(o => o with { HubId = "hub-b", ReportInterval = TimeSpan.FromSeconds(1) });
        var (agents, runs, stop) = await StartAgentsAsync(Enumerable.Range(0, 40).Select(i => AgentFor($"spread-{i}", a.AgentEndPoint, b.AgentEndPoint)));
        await HubFixture.WaitUntilAsync(() => a.Hub.ConnectedAgents + b.Hub.ConnectedAgents == 40);
        Assert.InRange(a.Hub.ConnectedAgents, 8, 32); // rendezvous hashing spreads them, roughly half each

        await a.DisposeAsync();
        await HubFixture.WaitUntilAsync(() => b.Hub.ConnectedAgents == 40, because: "hub-a's agents fail over to hub-b");
        await StopAsync(agents, runs, stop);
    }

    [Fact]
    public async Task A_wrong_token_stops_the_agent_with_a_permanent_refusal()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { Token = "right" });
        await using var agent = new DroverAgent(AgentFor("wrong-token", fixture.AgentEndPoint) with { Token = "wrong" });
        var refused = await Assert.ThrowsAsync<AgentRefusedException>(() => agent.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(ErrorCode.AuthenticationFailed, refused.Code);
    }

    [Fact]
    public async Task A_reconnect_storm_beyond_the_admission_rate_is_let_in_by_retry_after()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { AdmitPerSecond = 10, ReportInterval = TimeSpan.FromSeconds(2) });
        var clock = Stopwatch.StartNew();
        var (agents, runs, stop) = await StartAgentsAsync(Enumerable.Range(0, 30).Select(i => AgentFor($"storm-{i}", fixture.AgentEndPoint)));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.ConnectedAgents == 30, TimeSpan.FromSeconds(20), "all admitted");
        // 30 agents at 10/s with a one-second burst: the last ones enter about two seconds in.
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(1.5), $"all in after {clock.Elapsed}: admission did not hold them back");
        Assert.True(agents.Count(a => a.ConnectAttempts > 1) >= 15, "most agents were refused once and came back at their moment");
        Assert.True(agents.All(a => a.ConnectAttempts <= 3), "nobody had to retry more than twice: " + string.Join(",", agents.Select(a => a.ConnectAttempts)));
        await StopAsync(agents, runs, stop);
    }

    [Fact]
    public async Task The_python_agent_from_the_protocol_document_registers_reports_and_runs_a_job()
    {
        var python = TestPaths.RequirePython();
        // A default hub: the sketch enrolls with a join token and a key of its own (and ignores the key_expiry that follows).
        await using var fixture = await HubFixture.StartAsync(o => o with { OpenAgents = false, ReportInterval = TimeSpan.FromSeconds(1) });
        var join = await fixture.Hub.CreateJoinTokenAsync("python");

        var sketch = TestPaths.ProtocolDocPythonAgent();
        var dir = Directory.CreateTempSubdirectory("drover-pyagent-");
        await File.WriteAllTextAsync(Path.Combine(dir.FullName, "agent.py"), sketch);

        var info = new ProcessStartInfo(python, ["-c", $"import agent; agent.main('127.0.0.1', {fixture.AgentEndPoint.Port}, 'py-agent', '{join}', key='py-agent-key-0123456789')"])
        {
            WorkingDirectory = dir.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        try
        {
            await HubFixture.WaitUntilAsync(
                () => fixture.Hub.Registry.TryGet("py-agent", out var e) && LatestStatus(e) is { Sequence: >= 3 },
                TimeSpan.FromSeconds(20),
                "the Python agent sent three reports on its slots");
            Assert.True(fixture.Hub.Registry.TryGet("py-agent", out var entry));
            Assert.Equal(Presence.Online, entry.Presence);
            var report = LatestStatus(entry)!;
            Assert.Contains(report.Fields, f => f.Key == "load1" && f.Value.Number == 0.25);
            Assert.Contains(report.Fields, f => f.Key == "job_slots" && f.Value.Integer == 1);
            Assert.Equal(1, entry.JobSlots);

            // A job through the HTTP API: placed on the Python agent, verified, run, reported and acknowledged.
            using var http = fixture.CreateApiClient();
            var content = new byte[1000];
            Random.Shared.NextBytes(content);
            using var submitted = await http.PostAsync("api/jobs?to=agent:py-agent&name=data.bin&timeout=30s", new ByteArrayContent(content));
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
            var id = (await submitted.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs[0].Id;

            var view = await WaitForFinalAsync(http, id);
            Assert.Equal(JobStates.Done, view.State);
            Assert.Equal("py-agent", view.Agent);
            Assert.Equal(1, view.Attempt);
            Assert.Equal("completed", view.Outcome);
            Assert.Equal(0, view.ExitCode);
            Assert.Equal("1000 bytes\n", view.Stdout);
            Assert.Equal(string.Empty, view.Stderr);

            // Its one slot is free again: a second job runs too.
            using var second = await http.PostAsync("api/jobs?to=agent:py-agent", new ByteArrayContent("abc"u8.ToArray()));
            var secondId = (await second.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs[0].Id;
            var secondView = await WaitForFinalAsync(http, secondId);
            Assert.Equal((JobStates.Done, "3 bytes\n"), (secondView.State, secondView.Stdout));
            Assert.Equal(0, fixture.Hub.Jobs.InFlightOn("py-agent"));
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Polls the job over the API until it is no longer queued or running (20 s at most).</summary>
    private static async Task<JobView> WaitForFinalAsync(HttpClient http, string id)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = (await http.GetFromJsonAsync("api/jobs/" + id, ApiJsonContext.Default.JobView))!;
            if (view.State is not (JobStates.Queued or JobStates.Running) || clock.Elapsed > TimeSpan.FromSeconds(20))
            {
                return view;
            }

            await Task.Delay(50);
        }
    }

    private static Protocol.Status? LatestStatus(AgentEntry entry)
    {
        lock (entry)
        {
            return entry.DecodeStatus();
        }
    }
}
