using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Http;
using Drover.Hub.Status;
using Drover.Storage;

namespace Drover.Hub.Dashboard;

/// <summary>What the dashboard's live stream (<c>GET /api/live</c>) sends once a second: the <see cref="LiveSummary"/>,
/// computed at most once a second for every viewer together (one pass over the registry, one count of jobs by state),
/// and for each viewer the agents that changed since its previous event (<see cref="LiveWatch"/>). Nothing here runs
/// while nobody watches: no timer, no work on the status path.</summary>
internal sealed class LiveFeed(HubOptions options, IFleetView fleet, IJobStore jobStore, IJobControl jobs, StatusWriter writer, Func<int> pendingWrites)
{
    /// <summary>Seconds of arrivals the summary carries.</summary>
    public const int Window = 120;

    /// <summary>How old a summary may be and still be sent to another viewer.</summary>
    private static readonly TimeSpan Reuse = TimeSpan.FromMilliseconds(900);

    private static readonly TimeSpan OpenFilesEvery = TimeSpan.FromSeconds(5);

    private readonly Lock _latestLock = new();
    private readonly ProcessCpu _cpu = new(options.TimeProvider);
    private (long Ticks, Task<LiveSummary> Summary)? _latest;
    private (long Ticks, long Count) _openFiles;

    private int _streams;

    public TimeProvider Time => options.TimeProvider;

    public IFleetView Fleet => fleet;

    /// <summary>Counts a stream in, unless <paramref name="max"/> are open already.</summary>
    public bool TryOpenStream(int max)
    {
        if (Interlocked.Increment(ref _streams) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _streams);
        return false;
    }

    public void CloseStream() => Interlocked.Decrement(ref _streams);

    /// <summary>The summary of now, or of less than a second ago when another viewer asked for it already (viewers that
    /// ask while it is computed share that computation).</summary>
    public Task<LiveSummary> SummaryAsync()
    {
        lock (_latestLock)
        {
            var now = Time.GetUtcNow();
            if (_latest is { } latest && (!latest.Summary.IsCompleted || now.UtcTicks - latest.Ticks < Reuse.Ticks))
            {
                return latest.Summary;
            }

            var summary = ComputeAsync(now);
            _latest = (now.UtcTicks, summary);
            return summary;
        }
    }

    private async Task<LiveSummary> ComputeAsync(DateTimeOffset now)
    {
        var interval = fleet.IntervalMs;
        var pass = FleetPass.Run(fleet.Agents, now, interval, options.LateGraceFor(TimeSpan.FromMilliseconds(interval)));
        var arrived = fleet.ReportsLastSeconds(Window);
        var predicted = pass.PredictedPerSecond(now, Window);
        var lastInterval = (int)Math.Clamp(interval / 1000, 1, Window);
        var share = pass.OnTime + pass.Late == 0 ? 1.0 : pass.OnTime / (double)(pass.OnTime + pass.Late);
        var arrivals = new ArrivalHealth(
            Window,
            arrived,
            predicted,
            arrived.TakeLast(lastInterval).Sum() / (double)lastInterval,
            pass.Connected * 1000.0 / interval,
            share,
            pass.Lag(),
            pass.WentSilent,
            SilenceWarning(pass.WentSilent, pass.Connected, pass.SilenceWindow));

        var limits = fleet.Connections;
        var (soft, _) = Os.SystemLimits.GetOpenFilesLimit();
        var openFiles = CountOpenFiles(now);
        var connections = new LiveConnections(limits.Open, limits.MaxConnections, limits.Pending, (long)Math.Min(soft, long.MaxValue), openFiles, (long)Math.Min(soft, long.MaxValue) - openFiles);

        var pending = pendingWrites();
        var durable = writer.DurableUpToTicks;
        var lag = pending == 0 || durable == 0 ? 0 : (long)TimeSpan.FromTicks(now.UtcTicks - durable).TotalMilliseconds;
        var store = new LiveStore(Math.Max(0, lag), pending, writer.Flushes, writer.Failing);

        // A store that fails (a full disk) leaves the job counts out, not the fleet: the dashboard shows the rest.
        var jobStates = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            var counts = await jobStore.CountByStateAsync(CancellationToken.None).ConfigureAwait(false);
            foreach (var state in JobStates.All)
            {
                jobStates[state] = counts.GetValueOrDefault(state);
            }
        }
        catch (StoreException)
        {
        }

        return new LiveSummary(
            now,
            fleet.HubId,
            fleet.StartedAt,
            fleet.InRestartGrace,
            interval,
            pass.Total,
            pass.Connected,
            pass.ByState(),
            arrivals,
            connections,
            _cpu.Sample(now),
            store,
            new LiveJobs(jobStates, jobs.SubmittedTotal, jobs.FinishedTotal, jobs.FinishedPerSecond));
    }

    /// <summary>The warning for many agents going silent at once: at least 10 of them, and at least 5 % of the agents
    /// that were connected, within <paramref name="window"/>. A single agent failing is the agents page's business; many
    /// at once is the network's or the hub's.</summary>
    internal static string? SilenceWarning(int wentSilent, int connected, TimeSpan window)
    {
        var before = connected + wentSilent;
        if (wentSilent < 10 || wentSilent < before * 0.05)
        {
            return null;
        }

        return $"{wentSilent} agents ({100.0 * wentSilent / before:0.#} % of the fleet) went silent within the last {window.TotalSeconds:0} s: look for a network or hub problem rather than at single agents";
    }

    /// <summary>The hub's open descriptors (<see cref="Os.SystemLimits.CountOpenFiles"/>), counted at most every 5 s;
    /// where they cannot be counted, the agent connections.</summary>
    private long CountOpenFiles(DateTimeOffset now)
    {
        if (now.UtcTicks - _openFiles.Ticks >= OpenFilesEvery.Ticks)
        {
            _openFiles = (now.UtcTicks, Os.SystemLimits.CountOpenFiles() ?? fleet.Connections.Open);
        }

        return _openFiles.Count;
    }

    /// <summary>The process's CPU over the time since the previous sample.</summary>
    private sealed class ProcessCpu(TimeProvider time)
    {
        private long _wallTicks = time.GetUtcNow().UtcTicks;
        private TimeSpan _cpu = CurrentCpu();

        public LiveProcess Sample(DateTimeOffset now)
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var wall = now.UtcTicks - _wallTicks;
            var percent = wall <= 0 ? 0 : 100.0 * (cpu - _cpu).Ticks / wall;
            _wallTicks = now.UtcTicks;
            _cpu = cpu;
            return new LiveProcess(Math.Round(Math.Max(0, percent), 1), Environment.ProcessorCount, process.WorkingSet64, GC.GetTotalMemory(forceFullCollection: false), process.Threads.Count);
        }

        private static TimeSpan CurrentCpu()
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return process.TotalProcessorTime;
        }
    }
}
