using System.Diagnostics;
using System.Net;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using Xunit.Abstractions;

namespace Drover.Cli.Tests;

/// <summary>Issue 10's pre-auth crash, end to end: a real <c>drover serve</c> child flooded with connections that never
/// send a hello, from this process, on 127.0.0.1. The hub must stay up, keep its API answering, close the silent sockets
/// at the handshake timeout (or reset those beyond its caps at once), and keep the honest agents on time.</summary>
/// <remarks>Descriptors: the bar test holds 11,000 sockets here and the hub child the other 11,000, both under the
/// 20,000 open-files limit of this machine; the other test lowers the child's limit to 1,024.</remarks>
[Collection(ConnectionFloodsRunAlone.Name)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the field.")]
public sealed class ConnectionFloodTests : IAsyncLifetime
{
    private const string Token = "fl00d";
    private readonly string _data = Directory.CreateTempSubdirectory("drover-flood-").FullName;
    private readonly ITestOutputHelper _output;
    private ChildHubApi? _api;

    public ConnectionFloodTests(ITestOutputHelper output) => _output = output;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _api?.Dispose();
        TestPaths.DeleteDirectoryQuietly(_data);
        return Task.CompletedTask;
    }

    /// <summary>The child's agent port, and its API (timed: every answer within 5 s even during a flood).</summary>
    private IPEndPoint Connect(System.Text.RegularExpressions.Match listening)
    {
        var (agents, api) = ChildHubApi.Endpoints(listening);
        _api = new ChildHubApi(api);
        return agents;
    }

    private Task<StatsView> StatsAsync() => _api!.StatsAsync();

    private static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    private static int ThreadsNamed(int pid, string name) =>
        Directory.GetDirectories($"/proc/{pid}/task").Count(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == name);

    [Fact]
    public async Task Ten_thousand_silent_sockets_are_closed_at_the_handshake_timeout_while_a_thousand_agents_report_on_time()
    {
        var handshakeTimeout = TimeSpan.FromSeconds(2);
        var interval = TimeSpan.FromSeconds(1);
        var onTime = interval + TimeSpan.FromSeconds(2); // the hub marks an agent late after interval + grace (at least 2 s)
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(55));
        var clock = Stopwatch.StartNew();
        await using var hub = DroverProcess.Start(
            // --insecure: the honest agents are raw protocol clients without TLS; the silent sockets never get as far as TLS.
            "serve", "--insecure", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", _data, "--token", Token,
            "--interval", "1s", "--handshake-timeout", "2s");
        var agentPort = Connect(await hub.WaitForLineAsync(EndToEndTests.ServeListening));

        await using var fleet = await ReportingFleet.ConnectAsync(agentPort, 1_000, Token, "honest", deadline.Token);
        fleet.StartReporting(interval);
        await Poll.UntilAsync(() => StatsAsync(), s => s.ByState["online"] == 1_000, TimeSpan.FromSeconds(15), "1,000 agents online");
        await Task.Delay(interval * 2, deadline.Token);
        _output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: 1,000 agents report; the flood starts");

        // serve runs its sockets' completions on the engine threads (SocketEngine), one per core: with them, not the
        // thread pool, the honest agents must stay on time below.
        Assert.Equal(Environment.ProcessorCount, ThreadsNamed(hub.Id, ".NET Sockets"));

        var flood = await SilentConnections.OpenAsync(agentPort, 10_000, deadline.Token);
        _output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: 10,000 silent connections open; hub holds {OpenDescriptors(hub.Id)} descriptors");
        var peakDescriptors = 0;
        var polls = 0;
        while (flood.Closed < flood.Count && !deadline.IsCancellationRequested)
        {
            var stats = await StatsAsync();
            polls++;
            Assert.Equal(0, stats.ByState["late"]);
            Assert.Equal(1_000, stats.ByState["online"]);
            peakDescriptors = Math.Max(peakDescriptors, OpenDescriptors(hub.Id));
            await Task.Delay(250, deadline.Token);
        }

        Assert.True(await flood.WaitAllClosedAsync(TimeSpan.FromSeconds(10)), $"{flood.Count - flood.Closed} silent connections still open");
        var closedAfter = flood.ClosedAfter.Order().ToList();
        var summary = $"closed after min {closedAfter[0].TotalSeconds:F2} s, median {closedAfter[closedAfter.Count / 2].TotalSeconds:F2} s, "
            + $"max {closedAfter[^1].TotalSeconds:F2} s; {polls} API polls during the flood, the slowest {_api!.SlowestCallMs} ms; hub peak {peakDescriptors} descriptors";
        _output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: every silent connection closed: {summary}");
        Assert.All(flood.Byes, code => Assert.Equal(ErrorCode.HandshakeTimeout, code));
        Assert.True(closedAfter[0] >= handshakeTimeout, summary);
        Assert.True(closedAfter[^1] <= handshakeTimeout + TimeSpan.FromSeconds(5), summary);
        await flood.DisposeAsync();

        // The honest agents report on for two more intervals after the flood, then the verdict.
        await Task.Delay(interval * 2, deadline.Token);
        var after = await StatsAsync();
        _output.WriteLine($"agents: max ack gap {fleet.MaxAckGap.TotalMilliseconds:F0} ms, max send round {fleet.MaxSendGap.TotalMilliseconds:F0} ms, {fleet.Acked} acks");
        Assert.Equal(0, fleet.Disconnected);
        Assert.True(fleet.MaxAckGap < onTime, $"an agent went {fleet.MaxAckGap.TotalMilliseconds:F0} ms without an ack (the reporter's longest round: {fleet.MaxSendGap.TotalMilliseconds:F0} ms)");
        Assert.Equal(1_000, after.ByState["online"]);
        Assert.Equal(1_000, after.Connected);
        Assert.Equal(10_000, after.Connections.HandshakeTimeouts);
        Assert.Equal(0, after.Connections.RefusedOverPending + after.Connections.RefusedOverConnections);
        Assert.Equal(0, after.Connections.AcceptErrors);
        Assert.False(hub.HasExited);

        // One line for the first silent connection from 127.0.0.1, the rest counted for the once-a-minute line.
        var perConnection = hub.Output.Split('\n').Count(l => l.Contains("[202]", StringComparison.Ordinal));
        Assert.True(perConnection <= 1, $"{perConnection} lines for single closed connections:\n{hub.Output}");
        _output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s in all");
    }

    [Fact]
    public async Task A_hub_limited_to_1024_open_files_survives_3000_silent_sockets_serves_its_api_and_recovers()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(55));
        await using var hub = DroverProcess.StartWithOpenFilesLimit(
            1_024, "serve", "--insecure", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", _data, "--token", Token, "--handshake-timeout", "30s");
        var agentPort = Connect(await hub.WaitForLineAsync(EndToEndTests.ServeListening));
        await hub.WaitForLineAsync(@"Agent connections: at most 512 at once \(the open-files limit 1024 less 512 reserved\), of which at most 512 without");
        await StatsAsync();

        var flood = await SilentConnections.OpenAsync(agentPort, 3_000, deadline.Token);
        var stats = await Poll.UntilAsync(() => StatsAsync(), s => s.Connections.RefusedOverConnections + s.Connections.RefusedOverPending + s.Connections.Open >= 3_000,
            TimeSpan.FromSeconds(20), "every connection of the flood taken or reset");
        var descriptors = OpenDescriptors(hub.Id);
        _output.WriteLine($"during the flood: {stats.Connections}; hub holds {descriptors} descriptors; {flood.Closed} connections reset so far");
        Assert.Equal(512, stats.Connections.Open);
        Assert.Equal(3_000 - 512, stats.Connections.RefusedOverConnections + stats.Connections.RefusedOverPending);
        Assert.Equal(0, stats.Connections.AcceptErrors);
        Assert.True(descriptors < 1_024 - 128, $"{descriptors} descriptors: the reserve is being eaten");
        await Poll.UntilAsync(() => Task.FromResult(flood.Closed), closed => closed == 3_000 - 512, TimeSpan.FromSeconds(10), "connections beyond the cap reset at once");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await _api!.HealthAsync());
            await StatsAsync();
        }

        // The flood ends; an honest agent gets in and reports.
        await flood.DisposeAsync();
        await Poll.UntilAsync(() => StatsAsync(), s => s.Connections.Open == 0, TimeSpan.FromSeconds(15), "the flood's connections released");
        await using var agent = await RawProtocolClient.ConnectAsync(agentPort);
        Assert.IsType<Welcome>(await agent.HandshakeAsync(RawProtocolClient.MakeHello("after-flood", Token)));
        await agent.SendAsync(RawProtocolClient.MakeStatus(1));
        Assert.Equal(1UL, (await agent.ReceiveAsync<StatusAck>()).Sequence);
        Assert.False(hub.HasExited);
        Assert.DoesNotContain("Out of memory", hub.Output, StringComparison.Ordinal);
        Assert.True(hub.Output.Split('\n').Count(l => l.Contains("[206]", StringComparison.Ordinal)) <= 2, hub.Output);
        _output.WriteLine($"slowest API answer {_api!.SlowestCallMs} ms");
    }
}

/// <summary>The flood tests run alone, after the other tests of this assembly: each saturates both cores for seconds,
/// which would make the timing of tests running beside it (and its own) depend on the order xunit picks.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConnectionFloodsRunAlone
{
    public const string Name = "connection floods";
}
