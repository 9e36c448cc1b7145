using System.Diagnostics;
namespace Drover.Bench.Internal;

/// <summary>Job mode (the jobs run of <see cref="FleetBench"/>): end-to-end dispatch. The connected fleet advertises job slots and answers each job at
/// once (<see cref="SimAgent"/>); the bench submits <see cref="BenchOptions.Jobs"/> files through
/// <c>POST /api/jobs</c> and follows each one from its submission to the result ack its agent receives.</summary>
internal sealed class JobBenchRun
{
    /// <summary>How often the job run samples the hub (RSS, CPU) and checks for the end.</summary>
    private static readonly TimeSpan JobPoll = TimeSpan.FromMilliseconds(20);

    /// <summary>Warm-up rounds of <see cref="BenchOptions.WarmUpJobs"/> jobs each, and the quiet time after each.</summary>
    private const int WarmUpRounds = 3;

    private static readonly TimeSpan WarmUpPause = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the hub's own counts may lag the result acks before the cross-check fails.</summary>
    private static readonly TimeSpan CountsSettle = TimeSpan.FromSeconds(5);

    private readonly BenchOptions _options;
    private readonly HubUnderTest _hub;
    private readonly SimFleet _fleet;
    private readonly List<string> _failures;
    private readonly FleetBench.ProgressHandler? _progress;

    /// <summary>A job run against <paramref name="hub"/> with the connected <paramref name="fleet"/>; failures are
    /// added to <paramref name="failures"/> (at most 50).</summary>
    public JobBenchRun(BenchOptions options, HubUnderTest hub, SimFleet fleet, List<string> failures, FleetBench.ProgressHandler? progress)
    {
        _options = options;
        _hub = hub;
        _fleet = fleet;
        _failures = failures;
        _progress = progress;
    }

    /// <summary>Warms the hub up, then submits <see cref="BenchOptions.Jobs"/> jobs and measures them.</summary>
    public async Task<JobRunFigures> RunAsync(CancellationToken cancellationToken)
    {
        var (options, hub, fleet, failures, progress) = (_options, _hub, _fleet, _failures, _progress);
        void Fail(string failure)
        {
            lock (failures)
            {
                if (failures.Count < 50)
                {
                    failures.Add(failure);
                }
            }
        }

        using var http = hub.CreateApiClient(options.Submitters);

        // Warm-up: the same path, unpaced, in rounds with a pause after each, so that the hub's hot code is
        // compiled at its final tier before the run: .NET's tiered compilation promotes a method after 30 calls
        // and once no new method was compiled for 100 ms, which one long busy burst never gives it.
        for (var round = 0; round < WarmUpRounds && options.WarmUpJobs > 0; round++)
        {
            var warmUp = new JobTracker($"w{round}-", options.WarmUpJobs);
            await SubmitAndDrainAsync(options with { Rate = null }, hub, fleet, warmUp, http, Fail, "job warm-up", progress, cancellationToken).ConfigureAwait(false);
            if (warmUp.Lost() is > 0 and var lostInWarmUp)
            {
                Fail($"warm-up: {lostInWarmUp:N0} of {warmUp.AcceptedCount:N0} jobs got no result ack within {options.JobDrain.TotalSeconds:0} s");
                break;
            }

            await Task.Delay(WarmUpPause, cancellationToken).ConfigureAwait(false);
        }

        var countsBefore = await hub.ReadJobCountsAsync(cancellationToken).ConfigureAwait(false);
        var counters = fleet.Counters;
        var (hashBefore, earlyBefore, unexpectedBefore) = (Interlocked.Read(ref counters.HashMismatches), Interlocked.Read(ref counters.JobsBeforeAck), Interlocked.Read(ref counters.UnexpectedAcks));
        Interlocked.Exchange(ref counters.MaxHeld, 0);
        var tracker = new JobTracker("b-", options.Jobs);
        var loadAverage = ReadLoadAverage();
        var figuresBefore = hub.ReadFigures();
        var ownBefore = ProcessFigures.Read(Environment.ProcessId);
        var phase = await SubmitAndDrainAsync(options, hub, fleet, tracker, http, Fail, "jobs", progress, cancellationToken).ConfigureAwait(false);
        var ownCpu = ProcessFigures.Read(Environment.ProcessId).CpuTime - ownBefore.CpuTime;

        // The hub's own counts: every accepted job done, none dead (its counts come from the store).
        var counts = await ReadSettledCountsAsync(hub, countsBefore, tracker.AcceptedCount, cancellationToken).ConfigureAwait(false);
        var lost = tracker.Lost();
        if (lost > 0)
        {
            Fail($"{lost:N0} accepted jobs got no result ack within {options.JobDrain.TotalSeconds:0} s of the last submission, e.g. {string.Join(", ", tracker.LostNames(5))}");
        }

        var hashMismatches = Interlocked.Read(ref counters.HashMismatches) - hashBefore;
        if (hashMismatches > 0)
        {
            Fail($"{hashMismatches:N0} job files did not match their SHA-256");
        }

        long? hubDone = null;
        long? hubDead = null;
        long? hubOpen = null;
        if (counts is not { } after || countsBefore is not { } start)
        {
            Fail("the hub's GET /api/stats has no 'jobs' counts to cross-check");
        }
        else
        {
            hubDone = after.Done - start.Done;
            hubDead = after.Dead - start.Dead;
            hubOpen = after.Queued + after.Running;
            if (hubDone != tracker.AcceptedCount || hubDead != 0)
            {
                Fail($"the hub counts {hubDone:N0} jobs done and {hubDead:N0} dead in the run; {tracker.AcceptedCount:N0} were accepted");
            }
        }

        var first = tracker.FirstSubmitAt;
        var elapsed = first != 0 && tracker.LastAckAt > first ? Stopwatch.GetElapsedTime(first, tracker.LastAckAt) : TimeSpan.Zero;
        var submitElapsed = first != 0 && tracker.LastAcceptedAt > first ? Stopwatch.GetElapsedTime(first, tracker.LastAcceptedAt) : TimeSpan.Zero;
        return new JobRunFigures
        {
            Tracker = tracker,
            Elapsed = elapsed,
            SubmitElapsed = submitElapsed,
            Cpu = phase.End.CpuTime - figuresBefore.CpuTime,
            WriteBytes = phase.End.StorageWriteBytes - figuresBefore.StorageWriteBytes,
            BenchCpu = ownCpu,
            LoadAverage = loadAverage,
            RssPeakKib = phase.PeakRssKib,
            RssEndKib = phase.End.RssKib,
            Requests = phase.Submitter.Requests,
            Retries = phase.Submitter.Retries,
            Lost = lost,
            HashMismatches = hashMismatches,
            JobsBeforeAck = Interlocked.Read(ref counters.JobsBeforeAck) - earlyBefore,
            MaxJobsHeld = Interlocked.Read(ref counters.MaxHeld),
            UnexpectedAcks = Interlocked.Read(ref counters.UnexpectedAcks) - unexpectedBefore,
            HubDone = hubDone,
            HubDead = hubDead,
            HubOpen = hubOpen,
        };
    }

    /// <summary>Submits every job of <paramref name="tracker"/> and waits until each accepted one has its result
    /// ack, or for <see cref="BenchOptions.JobDrain"/> after the last submission. Bounded: the submission by
    /// <see cref="SubmitDeadline"/>, then the drain.</summary>
    private static async Task<JobPhase> SubmitAndDrainAsync(BenchOptions options, HubUnderTest hub, SimFleet fleet, JobTracker tracker, HttpClient http,
        Action<string> fail, string phaseName, FleetBench.ProgressHandler? progress, CancellationToken cancellationToken)
    {
        fleet.Jobs = tracker;
        var submitter = new JobSubmitter(http, hub.Api!, tracker, options, fail);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var submitFor = SubmitDeadline(options, tracker.Count);
        deadline.CancelAfter(submitFor);
        var submitting = submitter.RunAsync(deadline.Token);
        long peakRss = 0;
        Stopwatch? draining = null;
        ProcessFigures figures;
        while (true)
        {
            figures = hub.ReadFigures();
            peakRss = Math.Max(peakRss, figures.RssKib);
            progress?.Invoke(phaseName, (int)tracker.AckedCount, tracker.Count);
            if (submitting.IsCompleted)
            {
                draining ??= Stopwatch.StartNew();
                if (tracker.AckedCount >= tracker.AcceptedCount || draining.Elapsed >= options.JobDrain)
                {
                    break;
                }
            }

            await Task.Delay(JobPoll, cancellationToken).ConfigureAwait(false);
        }

        await submitting.ConfigureAwait(false);
        if (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            fail($"{phaseName}: the submission did not finish within {submitFor.TotalSeconds:0} s ({tracker.AcceptedCount:N0} of {tracker.Count:N0} accepted)");
        }

        progress?.Invoke(phaseName, (int)tracker.AckedCount, tracker.Count);
        return new JobPhase(figures, peakRss, submitter);
    }

    /// <summary>The longest a submission may take: two minutes plus the jobs at the paced rate (or at 100 jobs/s,
    /// a hundred times slower than the target, when unpaced).</summary>
    internal static TimeSpan SubmitDeadline(BenchOptions options, int jobs) => TimeSpan.FromSeconds(120 + (jobs / (options.Rate ?? 100.0)));

    /// <summary>The hub's job counts once its done count reached the run's (they come from the store, which
    /// committed each result before its ack: normally at once), or after <see cref="CountsSettle"/>.</summary>
    private static async Task<HubJobCounts?> ReadSettledCountsAsync(HubUnderTest hub, HubJobCounts? before, long accepted, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var counts = await hub.ReadJobCountsAsync(cancellationToken).ConfigureAwait(false);
            if (counts is not { } now || before is not { } start || now.Done - start.Done >= accepted || clock.Elapsed >= CountsSettle)
            {
                return counts;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The 1-minute load average from /proc/loadavg; null where there is none.</summary>
    private static double? ReadLoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var load) ? load : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private sealed record JobPhase(ProcessFigures End, long PeakRssKib, JobSubmitter Submitter);

    /// <summary>The measured job run's figures.</summary>
    internal sealed class JobRunFigures
    {
        public required JobTracker Tracker { get; init; }

        public TimeSpan Elapsed { get; init; }

        public TimeSpan SubmitElapsed { get; init; }

        public TimeSpan Cpu { get; init; }

        public TimeSpan BenchCpu { get; init; }

        public long WriteBytes { get; init; }

        public double? LoadAverage { get; init; }

        public long RssPeakKib { get; init; }

        public long RssEndKib { get; init; }

        public long Requests { get; init; }

        public long Retries { get; init; }

        public long Lost { get; init; }

        public long HashMismatches { get; init; }

        public long JobsBeforeAck { get; init; }

        public long MaxJobsHeld { get; init; }

        public long UnexpectedAcks { get; init; }

        public long? HubDone { get; init; }

        public long? HubDead { get; init; }

        public long? HubOpen { get; init; }

        public BenchResult AddTo(BenchResult result, BenchOptions options)
        {
            var t = Tracker;
            static double Ms(TimeSpan value) => Math.Round(value.TotalMilliseconds, 3);
            var done = t.AckedCount;
            return result with
            {
                Jobs = options.Jobs,
                FileSizeBytes = options.FileSize,
                Batch = options.Batch,
                Rate = options.Rate,
                JobSlots = options.JobSlots,
                Submitters = options.Submitters,
                DistinctFiles = options.DistinctFiles,
                JobsAccepted = t.AcceptedCount,
                JobsRefused = t.RefusedCount,
                JobsDone = done,
                JobsLost = Lost,
                JobsPerSecond = Elapsed > TimeSpan.Zero ? Math.Round(done / Elapsed.TotalSeconds, 1) : 0,
                SubmitPerSecond = SubmitElapsed > TimeSpan.Zero ? Math.Round(t.AcceptedCount / SubmitElapsed.TotalSeconds, 1) : 0,
                JobSeconds = Math.Round(Elapsed.TotalSeconds, 3),
                JobP50Ms = Ms(t.EndToEnd.Percentile(50)),
                JobP99Ms = Ms(t.EndToEnd.Percentile(99)),
                JobMaxMs = Ms(t.EndToEnd.Max),
                DispatchP50Ms = Ms(t.Dispatch.Percentile(50)),
                DispatchP99Ms = Ms(t.Dispatch.Percentile(99)),
                ResultAckP50Ms = Ms(t.ResultAck.Percentile(50)),
                ResultAckP99Ms = Ms(t.ResultAck.Percentile(99)),
                RequestP50Ms = Ms(t.Request.Percentile(50)),
                RequestP99Ms = Ms(t.Request.Percentile(99)),
                Requests = Requests,
                RequestsRetried = Retries,
                HubCpuUsPerJob = Math.Round(BenchMath.CpuMicrosecondsPer(Cpu, done), 2),
                BenchCpuUsPerJob = Math.Round(BenchMath.CpuMicrosecondsPer(BenchCpu, done), 2),
                LoadAverage = LoadAverage,
                HubWriteKibPerJob = done > 0 ? Math.Round(WriteBytes / 1024.0 / done, 2) : 0,
                HubRssPeakKib = RssPeakKib,
                HubRssEndKib = RssEndKib,
                HashMismatches = HashMismatches,
                JobsBeforeAck = JobsBeforeAck,
                MaxJobsHeld = MaxJobsHeld,
                JobsRedelivered = t.Redelivered,
                DuplicateResultAcks = t.DuplicateAcks,
                UnexpectedResultAcks = UnexpectedAcks,
                HubJobsDone = HubDone,
                HubJobsDead = HubDead,
                HubJobsOpen = HubOpen,
            };
        }
    }
}
