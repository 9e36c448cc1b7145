using Microsoft.Extensions.Time.Testing;

namespace Drover.Agent.Tests;

/// <summary>Per-test setup for agent-against-test-hub tests: one fake clock shared by the hubs and the
/// agents, and cleanup that stops every agent and hub the test started.</summary>
public abstract class AgentHarness : IAsyncLifetime
{
    /// <summary>A whole second, so slot arithmetic in tests is easy to follow.</summary>
    public static readonly DateTimeOffset Start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly List<TestHub> _hubs = [];
    private readonly List<AgentRun> _agents = [];
    private readonly List<string> _tempDirectories = [];

    internal FakeTimeProvider Time { get; } = new(Start);

    internal TestHub NewHub(string hubId = "test-hub")
    {
        var hub = new TestHub(Time, hubId);
        _hubs.Add(hub);
        return hub;
    }

    internal AgentOptions Options(params string[] hubs) => new()
    {
        Hubs = hubs,
        AgentId = "test-agent",
        Trust = HubTrust.Insecure, // the test hub is plain TCP
        Token = "secret",
        TimeProvider = Time,
        IncludeSystemMetrics = false,
        Logger = FileLogger.Create(GetType().Name),
    };

    /// <summary>Creates an agent, lets <paramref name="configure"/> set fields, starts collecting its
    /// events, then starts it.</summary>
    internal AgentRun StartAgent(AgentOptions options, Action<DroverAgent>? configure = null)
    {
        var agent = new DroverAgent(options);
        configure?.Invoke(agent);
        var events = new EventLog(agent);
        var cts = new CancellationTokenSource();
        var run = new AgentRun(agent, events, cts, agent.RunAsync(cts.Token));
        _agents.Add(run);
        return run;
    }

    /// <summary>A fresh directory, deleted when the test ends.</summary>
    internal string NewTempDirectory()
    {
        var path = Directory.CreateTempSubdirectory("drover-agent-test-").FullName;
        _tempDirectories.Add(path);
        return path;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var (agent, _, cts, run) in _agents)
        {
            await cts.CancelAsync();
            try
            {
                await run.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
                // Tests that expect a failure assert it themselves.
            }

            await agent.DisposeAsync();
            cts.Dispose();
        }

        foreach (var hub in _hubs)
        {
            await hub.DisposeAsync();
        }

        foreach (var path in _tempDirectories)
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}

internal sealed record AgentRun(DroverAgent Agent, EventLog Events, CancellationTokenSource Cts, Task Run);
