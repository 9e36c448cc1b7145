using System.Diagnostics;
using Drover.Bench.Internal;
using Drover.Storage.Sqlite;

namespace Drover.Bench;

/// <summary>Runs one bench: start (or find) the hub, connect the fleet, let it idle, measure the hub
/// from /proc, run the mode, account for every report, and return the figures. Job mode is
/// <see cref="JobBenchRun"/>.</summary>
public static class FleetBench
{
    private const int ReservedDescriptors = 100;

    /// <summary>Progress as the phases go: (phase, done, total).</summary>
    public delegate void ProgressHandler(string phase, int done, int total);

    /// <summary>How many agents this bench process can simulate: one descriptor each, plus a reserve.</summary>
    public static long MaxAgentsForOpenFiles(ulong softLimit) => Math.Max(0, (long)Math.Min(softLimit, int.MaxValue) - ReservedDescriptors);

    public static async Task<BenchResult> RunAsync(BenchOptions options, ulong openFilesLimit, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        options.Validate();
        if (options.Agents > MaxAgentsForOpenFiles(openFilesLimit))
        {
            throw new ArgumentException(
                $"{options.Agents:N0} agents need {options.Agents + ReservedDescriptors:N0} open files in this process; the limit is {openFilesLimit:N0}. "
                + $"Use --agents {MaxAgentsForOpenFiles(openFilesLimit):N0} or less, or raise the limit ('drover doctor' shows how).");
        }

        var hub = await HubUnderTest.StartAsync(options, cancellationToken).ConfigureAwait(false);
        try
        {
            return await MeasureAsync(options, hub, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await hub.DisposeAsync().ConfigureAwait(false);
            hub.DeleteData();
        }
    }

    private static async Task<BenchResult> MeasureAsync(BenchOptions options, HubUnderTest hub, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        var failures = new List<string>();

        // In job mode the warm-up is a round of jobs, once the fleet is connected.
        await WarmUpAsync(options.JobMode ? 0 : options.WarmUpAgents, options, hub, cancellationToken).ConfigureAwait(false);
        var before = hub.ReadFigures();

        // Connect: every agent says hello and sends its first report; the clock stops when all are welcomed.
        var fleet = new SimFleet(hub.AgentEndPoint, options.Token, options.ClosedLoop, options.Naive, options.Agents, options.AgentsPerSourceAddress,
            options.IdPrefix, jobSlots: options.JobMode ? options.JobSlots : 0)
        {
            Trust = hub.Trust,

            // Agents that run jobs report on their slots from the start, as real ones do: kept quiet (for the memory
            // reading of a status run) they went lost after three intervals, the hub closed them, and the jobs they held
            // waited out the disconnect grace (30 s), so any job run longer than about 30 s ended 30 s late.
            Reporting = options.JobMode,
        };
        using var stopAgents = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var connectClock = Stopwatch.StartNew();
        var runs = await StartAgentsAsync(fleet, options.ConnectConcurrency, stopAgents.Token).ConfigureAwait(false);
        var connectDeadline = TimeSpan.FromSeconds(60 + options.Agents / 500);
        while (fleet.ConnectedCount < options.Agents && connectClock.Elapsed < connectDeadline && fleet.Failures.Count == 0)
        {
            progress?.Invoke("connecting", fleet.ConnectedCount, options.Agents);
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        var connectSeconds = connectClock.Elapsed.TotalSeconds;
        var connected = fleet.ConnectedCount;
        progress?.Invoke("connecting", connected, options.Agents);
        if (connected < options.Agents)
        {
            failures.Add($"only {connected:N0} of {options.Agents:N0} agents connected within {connectDeadline.TotalSeconds:0} s");
        }

        // Idle, then the memory reading.
        progress?.Invoke("idle", 0, (int)options.Idle.TotalSeconds);
        await Task.Delay(options.Idle, cancellationToken).ConfigureAwait(false);
        var idle = hub.ReadFigures();
        var (_, _, _, online) = await hub.ReadStatsAsync(1, cancellationToken).ConfigureAwait(false);

        // The measured run: status reports, or jobs.
        fleet.ResetLatency();
        var sentBefore = fleet.Agents.Sum(a => Interlocked.Read(ref a.Sent));
        var ackedBefore = fleet.Agents.Sum(a => Interlocked.Read(ref a.Acked));
        JobBenchRun.JobRunFigures? jobs = null;
        ReportRun run;
        if (options.JobMode)
        {
            jobs = await new JobBenchRun(options, hub, fleet, failures, progress).RunAsync(cancellationToken).ConfigureAwait(false);
            run = new ReportRun(jobs.Elapsed, jobs.Cpu, 0, [], new RestartFigures(), null);
        }
        else
        {
            run = await RunReportsAsync(options, hub, fleet, idle, ackedBefore, progress, cancellationToken).ConfigureAwait(false);
        }

        var restart = run.Restart;
        var drain = Stopwatch.StartNew();
        while (fleet.Agents.Any(a => a.Connected && Interlocked.Read(ref a.Sent) - Interlocked.Read(ref a.InFlightAtKill) > Interlocked.Read(ref a.Acked))
            && drain.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        // Let the hub flush and stop it, then compare what the store holds with what each agent sent.
        IReadOnlyDictionary<string, ulong>? stored = null;
        if (hub.IsOwn)
        {
            await Task.Delay(TimeSpan.FromSeconds(1.5), cancellationToken).ConfigureAwait(false);
            if (!await hub.StopGracefullyAsync().ConfigureAwait(false))
            {
                failures.Add($"the hub did not stop within 30 s of SIGTERM; see {hub.LogPath}");
            }

            stored = await ReadStoredSequencesAsync(hub.DataDirectory!, cancellationToken).ConfigureAwait(false);
        }

        await stopAgents.CancelAsync().ConfigureAwait(false);
        foreach (var agent in fleet.Agents)
        {
            agent.Close();
        }

        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);

        var tallies = fleet.Agents.Select(a => new AgentTally(
            a.Sent,
            a.Acked,
            a.InFlightAtKill,
            a.LastAckedSequence,
            stored is null ? null : stored.TryGetValue(a.Id, out var sequence) ? sequence : 0UL)).ToList();
        failures.AddRange(fleet.Failures);
        var unexpected = fleet.Agents.Sum(a => (long)Math.Max(0, a.Sessions - 1)) - (restart.Done ? fleet.Agents.Length : 0);
        if (unexpected > 0)
        {
            failures.Add($"{unexpected} connections broke without the bench killing the hub");
        }

        var result = new BenchResult
        {
            Mode = options.Mode,
            Tls = hub.Trust is not null,
            Agents = options.Agents,
            Connected = connected,
            HubOnline = online,
            ConnectSeconds = Math.Round(connectSeconds, 3),
            HubRssBeforeKib = before.RssKib,
            HubRssAfterKib = idle.RssKib,
            HubRssKibPerAgent = Math.Round(BenchMath.KibPerAgent(before.RssKib, idle.RssKib, connected), 2),
            HubThreads = idle.Threads,
            IntervalMs = fleet.Agents.Max(a => a.IntervalMs),
            DurationSeconds = Math.Round(run.Elapsed.TotalSeconds, 2),
            ReportsSent = fleet.Agents.Sum(a => a.Sent) - sentBefore,
            ReportsAcked = run.Acked,
            ReportsPerSecond = Math.Round(run.Acked / run.Elapsed.TotalSeconds, 1),
            HubCpuSeconds = Math.Round(run.Cpu.TotalSeconds, 2),
            HubCpuUsPerReport = Math.Round(BenchMath.CpuMicrosecondsPer(run.Cpu, run.Acked), 2),
            HubWriteBytesPerReport = run.StorageWrites is { } written && run.Acked > 0 ? Math.Round((double)written / run.Acked, 1) : null,
            AckP50Ms = Math.Round(fleet.Latency.Percentile(50).TotalMilliseconds, 3),
            AckP99Ms = Math.Round(fleet.Latency.Percentile(99).TotalMilliseconds, 3),
            ArrivalsPeakToMean = Math.Round(BenchMath.PeakToMean(run.Arrivals), 3),
            ArrivalsPerSecond = run.Arrivals,
            ReportsLost = BenchMath.ReportsLost(tallies),
            ReportsInFlightAtKill = tallies.Sum(t => t.InFlightAtKill),
            ReconnectSeconds = restart.Done ? Math.Round(restart.ReconnectSeconds, 2) : null,
            HubRestartSeconds = restart.Done ? Math.Round(restart.HubStartSeconds, 2) : null,
            AgentsGaveUp = restart.Done ? restart.GaveUp : null,
            LostDuringGrace = restart.Done ? restart.LostDuringGrace : null,
            ReconnectedPerSecond = restart.ReconnectedPerSecond,
            Reconnects = fleet.Agents.Sum(a => (long)Math.Max(0, a.Sessions - 1)),
            HubLog = hub.IsOwn ? hub.LogPath : null,
            Failures = failures,
        };
        return jobs is null ? result : jobs.AddTo(result, options);
    }

    /// <summary>The status-report run: closed loop, on slots, naive, or with a kill -9 and restart.</summary>
    private static async Task<ReportRun> RunReportsAsync(BenchOptions options, HubUnderTest hub, SimFleet fleet, ProcessFigures atStart, long ackedBefore, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        var cpuBefore = atStart.CpuTime;
        var cpuCarried = TimeSpan.Zero;
        fleet.Reporting = true;
        if (options.ClosedLoop)
        {
            foreach (var agent in fleet.Agents)
            {
                agent.SendStatus();
            }
        }

        var runClock = Stopwatch.StartNew();
        var restart = new RestartFigures();
        var runSeconds = (int)Math.Ceiling(options.Duration.TotalSeconds);
        while (runClock.Elapsed < options.Duration)
        {
            progress?.Invoke(options.Mode, (int)runClock.Elapsed.TotalSeconds, runSeconds);
            if (options.RestartAt is { } at && runClock.Elapsed >= at && !restart.Done)
            {
                // The hub's CPU so far is kept: the restarted process counts from zero.
                cpuCarried += hub.ReadFigures().CpuTime - cpuBefore;
                await RestartHubAsync(hub, fleet, restart, options, cancellationToken).ConfigureAwait(false);
                cpuBefore = hub.ReadFigures().CpuTime;
                continue;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        // Stop the run: no new reports, read the figures (the caller then waits for the acks of those in flight).
        fleet.Reporting = false;
        var elapsed = runClock.Elapsed;
        var atEnd = hub.ReadFigures();
        var cpu = cpuCarried + atEnd.CpuTime - cpuBefore;
        // Storage writes only for a run without a restart (a new process counts from zero), and only where /proc/PID/io
        // could be read (write_bytes then counts from the hub's start, never 0 after its store opened).
        long? written = restart.Done || atEnd.StorageWriteBytes == 0 ? null : atEnd.StorageWriteBytes - atStart.StorageWriteBytes;
        var acked = fleet.Agents.Sum(a => Interlocked.Read(ref a.Acked)) - ackedBefore;
        var arrivals = Array.Empty<long>();
        if (!options.ClosedLoop)
        {
            var (perSecond, _, _, _) = await hub.ReadStatsAsync(Math.Min(599, runSeconds), cancellationToken).ConfigureAwait(false);
            arrivals = SteadySeconds(perSecond, restart);
        }

        return new ReportRun(elapsed, cpu, acked, arrivals, restart, written);
    }

    /// <summary>A small fleet connects, reports once and leaves before the "before" reading, so that
    /// one-time costs (JIT-compiled session code, code pages, the store's first pages) are not charged
    /// to the fleet being measured. Its agents stay in the registry as lost: part of "before".</summary>
    private static async Task WarmUpAsync(int count, BenchOptions options, HubUnderTest hub, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            return;
        }

        var warmup = new SimFleet(hub.AgentEndPoint, options.Token, closedLoop: false, naive: false, count, options.AgentsPerSourceAddress, "warmup") { Trust = hub.Trust };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var runs = await StartAgentsAsync(warmup, options.ConnectConcurrency, stop.Token).ConfigureAwait(false);
        var deadline = Stopwatch.StartNew();
        while ((warmup.ConnectedCount < count || warmup.Agents.Any(a => a.Acked == 0)) && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        await stop.CancelAsync().ConfigureAwait(false);
        foreach (var agent in warmup.Agents)
        {
            agent.Close();
        }

        await Task.WhenAll(runs).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
    }

    private static async Task<List<Task>> StartAgentsAsync(SimFleet fleet, int concurrency, CancellationToken stop)
    {
        // Start agents in waves so that at most `concurrency` handshakes are in progress at once.
        var runs = new List<Task>(fleet.Agents.Length);
        foreach (var agent in fleet.Agents)
        {
            while (runs.Count - fleet.ConnectedCount >= concurrency && !stop.IsCancellationRequested)
            {
                await Task.Delay(1, stop).ConfigureAwait(false);
            }

            runs.Add(agent.RunAsync(stop));
        }

        return runs;
    }

    private static async Task RestartHubAsync(HubUnderTest hub, SimFleet fleet, RestartFigures figures, BenchOptions options, CancellationToken cancellationToken)
    {
        var (beforeKill, lostBeforeKill, _, _) = await hub.ReadStatsAsync(Math.Max(2, (int)options.RestartAt!.Value.TotalSeconds), cancellationToken).ConfigureAwait(false);
        figures.ArrivalsBeforeKill = beforeKill;
        fleet.HubKilled = true;
        var killedAt = Stopwatch.GetTimestamp();
        await hub.KillHardAsync().ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        await hub.RestartAsync(cancellationToken).ConfigureAwait(false);
        figures.HubStartSeconds = clock.Elapsed.TotalSeconds;
        fleet.HubKilled = false;

        // Wait for the fleet to come back; watch the hub's lost count while its restart grace lasts.
        var deadline = TimeSpan.FromSeconds(60) + options.Interval;
        var nextStats = TimeSpan.Zero;
        while (clock.Elapsed < deadline)
        {
            if (clock.Elapsed >= nextStats)
            {
                nextStats = clock.Elapsed + TimeSpan.FromMilliseconds(500);
                var (_, lost, grace, _) = await hub.ReadStatsAsync(1, cancellationToken).ConfigureAwait(false);
                if (grace)
                {
                    // Agents already lost before the kill (the warm-up fleet) do not count.
                    figures.LostDuringGrace = Math.Max(figures.LostDuringGrace, lost - lostBeforeKill);
                }
            }

            if (fleet.ConnectedCount == fleet.Agents.Length && fleet.Agents.All(a => a.Sessions >= 2))
            {
                break;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        figures.ReconnectSeconds = clock.Elapsed.TotalSeconds;
        figures.GaveUp = fleet.Agents.Count(a => a.Sessions < 2 || !a.Connected);
        var back = fleet.Agents.Where(a => a.Sessions >= 2).Select(a => Stopwatch.GetElapsedTime(killedAt, a.ConnectedAt).TotalSeconds).ToList();
        figures.ReconnectedPerSecond = back.Count == 0 ? [] : Enumerable.Range(0, (int)Math.Ceiling(back.Max()) + 1).Select(second => (long)back.Count(t => t >= second && t < second + 1)).ToArray();
        figures.Done = true;
    }

    /// <summary>The hub's per-second arrivals for the seconds wholly inside the run: of the complete
    /// seconds read as the run ended, the first two and the last may straddle its start or its end
    /// (the run starts and the stats are read mid-second), so they are left out (in runs shorter
    /// than five seconds, only the first). After a restart
    /// only the seconds before the kill count: the storm is measured by reconnect_seconds.</summary>
    private static long[] SteadySeconds(long[] perSecond, RestartFigures restart)
    {
        var seconds = restart.Done ? restart.ArrivalsBeforeKill : perSecond;
        return seconds.Length switch
        {
            >= 5 => seconds[2..^1],
            >= 2 => seconds[1..],
            _ => seconds,
        };
    }

    private static async Task<IReadOnlyDictionary<string, ulong>> ReadStoredSequencesAsync(string dataDirectory, CancellationToken cancellationToken)
    {
        await using var store = new SqliteFleetStore(new SqliteStoreOptions { Path = Path.Combine(dataDirectory, "drover.db") });
        await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        var agents = await store.LoadAgentsAsync(cancellationToken).ConfigureAwait(false);
        return agents.ToDictionary(a => a.Id, a => a.Status?.Sequence ?? 0);
    }

    /// <summary>What the measured run gives the common figures: its length, the hub's CPU in it, reports
    /// acknowledged in it, the hub's arrivals per second, the restart (if any), and the bytes the hub sent to storage in
    /// it (null when unknown).</summary>
    private sealed record ReportRun(TimeSpan Elapsed, TimeSpan Cpu, long Acked, long[] Arrivals, RestartFigures Restart, long? StorageWrites);

    private sealed class RestartFigures
    {
        public bool Done { get; set; }

        public double ReconnectSeconds { get; set; }

        public double HubStartSeconds { get; set; }

        public int GaveUp { get; set; }

        public int LostDuringGrace { get; set; }

        public long[] ArrivalsBeforeKill { get; set; } = [];

        public long[] ReconnectedPerSecond { get; set; } = [];
    }
}
