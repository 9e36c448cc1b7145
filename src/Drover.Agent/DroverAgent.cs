using System.Threading.Channels;
using Drover.Agent.Internal;
using Drover.Protocol;

namespace Drover.Agent;

/// <summary>A Drover agent: connects to a hub, says hello, reports status on the hub's schedule,
/// runs the jobs the hub sends with <see cref="AgentOptions.JobHandler"/> (when it has job slots), answers pings, follows the hub's backoff, redirect and reschedule orders, and reconnects with
/// jittered exponential backoff, failing over between hubs by rendezvous hashing of its id.
/// <para>Cheap enough to run a thousand in one process: no thread and no timer of its own; while
/// connected it holds one pending socket read (zero-byte, no buffer) and one pending delay.</para>
/// <example><code>
/// await using var agent = new DroverAgent(new AgentOptions { Hubs = ["hub1:7400"], AgentId = "web-01" });
/// agent.SetField("queue_depth", FieldValue.From(3L));
/// await agent.RunAsync(stoppingToken); // returns when the token is cancelled, after saying bye
/// </code></example></summary>
public sealed class DroverAgent : IAsyncDisposable
{
    private readonly AgentRuntime _runtime;
    private readonly CancellationTokenSource _disposeCts = new();
    private Task? _run;
    private int _started;
    private int _disposed;

    /// <summary>Creates the agent; <paramref name="options"/> are validated here (throws <see cref="ArgumentException"/>).</summary>
    public DroverAgent(AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _runtime = new AgentRuntime(options);
    }

    public AgentOptions Options { get; }

    /// <summary>This agent's id.</summary>
    public string AgentId => Options.AgentId;

    /// <summary>Disconnected, Connecting or Connected.</summary>
    public AgentConnectionState ConnectionState => _runtime.ConnectionState;

    /// <summary>The hub ("host:port") of the current or last connection attempt; null before the first.</summary>
    public string? CurrentHub => _runtime.CurrentHub;

    /// <summary>The welcome of the current or last session; null before the first.</summary>
    public Welcome? LastWelcome => _runtime.LastWelcome;

    /// <summary>Status reports written to a hub (backlogged samples included).</summary>
    public long ReportsSent => _runtime.ReportsSent;

    /// <summary>Status acknowledgements received from hubs.</summary>
    public long ReportsAcked => _runtime.ReportsAcked;

    /// <summary>Connection attempts after the first one.</summary>
    public long Reconnects => Math.Max(0, _runtime.ConnectAttempts - 1);

    /// <summary>Connection attempts, the first one included.</summary>
    public long ConnectAttempts => _runtime.ConnectAttempts;

    /// <summary>Sessions established (welcomes received).</summary>
    public long Sessions => _runtime.Sessions;

    /// <summary>The sequence number of the latest status sample (0 before the first).</summary>
    public ulong LastSequence => _runtime.LastSequence;

    /// <summary>Status samples waiting to be sent after the next welcome.</summary>
    public int BacklogCount => _runtime.BacklogCount;

    /// <summary>Jobs running now (accepted, result not yet made).</summary>
    public int JobsInFlight => _runtime.JobsInFlight;

    /// <summary>Finished jobs whose results wait for the hub's acknowledgement.</summary>
    public int UnackedResults => _runtime.UnackedResults;

    /// <summary>Jobs accepted since start (answered job_accepted; repeats of a job already held not counted).</summary>
    public long JobsAccepted => _runtime.JobsAccepted;

    /// <summary>Jobs turned down since start (answered job_busy).</summary>
    public long JobsRefused => _runtime.JobsRefused;

    /// <summary>Lifecycle events (connecting, connected, disconnected with reason and retry delay,
    /// rescheduled, stopped). The channel is created on first access and keeps the latest 256 unread events
    /// (older ones are dropped); an agent whose events are never read pays nothing for them.</summary>
    public ChannelReader<AgentEvent> Events => _runtime.Events;

    /// <summary>The state sent in every following report. Default: <see cref="AgentState.Idle"/>.</summary>
    public void SetState(AgentState state) => _runtime.SetState(state);

    /// <summary>The progress (0-100) sent in every following report; null for none (the default).</summary>
    public void SetProgress(byte? percent) => _runtime.SetProgress(percent);

    /// <summary>Adds or replaces a custom field sent in every following report.</summary>
    public void SetField(string key, FieldValue value) => _runtime.SetField(key, value);

    /// <summary>Removes a custom field; returns false if it was not set.</summary>
    public bool RemoveField(string key) => _runtime.RemoveField(key);

    /// <summary>Runs the agent until <paramref name="cancellationToken"/> is cancelled or the agent is disposed;
    /// then says bye to the hub (if connected) and completes normally. Throws
    /// <see cref="AgentRefusedException"/> when a hub refuses the agent for a reason retrying cannot fix.
    /// Call once per instance.</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("RunAsync was already called on this agent");
        }

        var run = RunCoreAsync(cancellationToken);
        Volatile.Write(ref _run, run);
        return run;
    }

    /// <summary>Stops a running agent (bye included) and waits for it to finish.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposeCts.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _run) is { } run)
        {
            try
            {
                await run.ConfigureAwait(false);
            }
            catch (AgentRefusedException)
            {
                // Already reported to whoever awaited RunAsync.
            }
        }

        _disposeCts.Dispose();
        _runtime.Dispose();
    }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        // Yield first: starting a thousand agents in a loop should not connect them one by one on the caller's thread.
        await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        await _runtime.RunAsync(linked.Token).ConfigureAwait(false);
    }
}
