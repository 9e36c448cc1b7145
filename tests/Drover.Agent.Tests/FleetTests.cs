using System.Diagnostics;
using Drover.Protocol;

namespace Drover.Agent.Tests;

/// <summary>Many agents in one process, as the demo and the bench run them: no thread per agent.</summary>
public sealed class FleetTests : AgentHarness
{
    [Fact]
    public async Task A_thousand_agents_in_one_process_connect_report_and_stop_without_a_thread_each()
    {
        const int count = 1000;
        var hub = NewHub();
        hub.IntervalMs = 60_000;
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;

        var runs = Enumerable.Range(0, count)
            .Select(i => StartAgent(Options(hub.Address) with { AgentId = $"fleet-{i:D4}", Logger = null }))
            .ToArray();

        await Wait.UntilAsync(() => runs.All(r => r.Agent.ReportsAcked >= 1), "every agent welcomed and acknowledged");
        var threadsDuring = Process.GetCurrentProcess().Threads.Count;

        // Each agent's slot comes round once per interval: a minute of fake time gives each one more report.
        Time.Advance(TimeSpan.FromSeconds(60.1));
        await Wait.UntilAsync(() => runs.All(r => r.Agent.ReportsAcked >= 2), "a second report from every agent");

        foreach (var run in runs)
        {
            run.Cts.Cancel();
        }

        await Task.WhenAll(runs.Select(r => r.Run)).WaitAsync(Wait.RealTimeout);
        await Wait.UntilAsync(() => hub.Connections.Count(c => c.ReceivedOf<Bye>().Count == 1) == count, "a bye from every agent");

        Assert.Equal(count, hub.Connections.Select(c => c.Hello!.AgentId).Distinct().Count());
        Assert.True(threadsDuring - threadsBefore < 50, $"threads: {threadsBefore} before, {threadsDuring} with {count} agents");
        Assert.All(runs, r => Assert.Equal(AgentConnectionState.Disconnected, r.Agent.ConnectionState));
        Assert.Equal(ErrorCode.None, hub.Connections[0].ReceivedOf<Bye>()[0].Code);
    }
}
