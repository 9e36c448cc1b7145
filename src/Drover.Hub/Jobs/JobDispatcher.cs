using Drover.Hub.Connections;
using Drover.Hub.Fleet;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>The job side of the hub as the rest of it calls it: submissions and cancels (the HTTP API, through
/// <see cref="Http.IJobControl"/>), agent sessions and their job messages (Connections/), the sweep (Fleet/). It
/// composes the roles of this folder: the in-memory <see cref="JobTable"/> (bounded by
/// <see cref="HubOptions.MaxQueuedJobs"/> and <see cref="HubOptions.MaxQueuedBytes"/>), the
/// <see cref="TargetQueues"/>, the <see cref="AgentSlots"/> that <see cref="JobPlacement"/> chooses from, the
/// <see cref="DispatchLoop"/> that places and leases, <see cref="JobAttempts"/> (accepted, busy, results, requeues),
/// the <see cref="LeaseSweep"/>, <see cref="JobRetention"/>, and the group commit <see cref="JobWriter"/> through
/// which every state change reaches the <see cref="IJobStore"/>.</summary>
/// <remarks>
/// <para>Concurrency: one lock (<see cref="JobTable.Lock"/>) guards every <see cref="ActiveJob"/>,
/// <see cref="JobAgent"/> and queue. Nothing is sent and nothing awaited while it is held: frames go out after it is
/// released (a job frame with <see cref="ActiveJob.Sending"/> set, so that a cancel decided meanwhile follows the job).</para>
/// <para>The store is the arbiter: every change is conditional there (a lease on a queued job, a result for
/// the running attempt, a requeue of the running attempt), and memory follows what the store answered, so
/// a result and a lease expiry that race end as exactly one of them.</para>
/// </remarks>
internal sealed class JobDispatcher : IDisposable
{
    /// <summary>What the hub answers to job_accepted for an attempt it does not hold for that agent.</summary>
    internal const string NotLeasedReason = JobAttempts.NotLeasedReason;

    private readonly IJobStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly JobTable _table;
    private readonly TargetQueues _queues = new();
    private readonly PlacementSignal _signal = new();
    private readonly AgentSlots _agents;
    private readonly DispatchLoop _loop;
    private readonly JobAttempts _attempts;
    private readonly JobRetention _retention;
    private readonly LeaseSweep _sweep;

    /// <summary>The dispatcher over <paramref name="store"/>; each role logs under its own category.</summary>
    public JobDispatcher(IJobStore store, HubOptions options, ILoggerFactory loggerFactory, Metrics.HubMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _store = store;
        _time = options.TimeProvider;
        _logger = loggerFactory.CreateLogger<JobDispatcher>();
        _table = new JobTable(options);
        Writer = new JobWriter(store, loggerFactory.CreateLogger<JobWriter>(), _time, metrics);
        _agents = new AgentSlots(_table, _signal, _time);
        _loop = new DispatchLoop(_table, _queues, _agents, _signal, Writer, store, options, metrics, loggerFactory.CreateLogger<DispatchLoop>());
        _attempts = new JobAttempts(_table, _queues, _agents, _signal, Writer, _time, metrics, loggerFactory.CreateLogger<JobAttempts>());
        _retention = new JobRetention(store, options, loggerFactory.CreateLogger<JobRetention>());
        _sweep = new LeaseSweep(_table, _queues, _agents, _attempts, _retention, Writer, options, loggerFactory.CreateLogger<LeaseSweep>());
    }

    /// <summary>The group commit (the hub runs its loop).</summary>
    internal JobWriter Writer { get; }

    /// <summary>Jobs in memory (queued and running).</summary>
    internal int ActiveCount => _table.Count;

    /// <summary>File bytes queued jobs keep in memory (see <see cref="JobTable.FileBytesHeld"/>).</summary>
    internal long FileBytesHeld => _table.FileBytesHeld;

    /// <summary>The prune in progress, or the last one (tests wait for it).</summary>
    internal Task PruneTask => _retention.PruneTask;

    /// <summary>Jobs in memory by phase: queued and running (see <see cref="JobTable.CountByPhase"/>).</summary>
    internal (int Queued, int Running) CountByPhase() => _table.CountByPhase();

    /// <summary>Jobs accepted since start.</summary>
    public long SubmittedTotal => _table.SubmittedTotal;

    /// <summary>Jobs that reached done or dead since start.</summary>
    public long FinishedTotal => _table.FinishedTotal;

    /// <summary>Jobs finished per second over the last 10 s.</summary>
    public double FinishedPerSecond => _table.FinishedPerSecond;

    /// <summary>Job messages (result, accepted, busy) refused since start because their attempt is leased to another
    /// agent id.</summary>
    public long ForeignMessages => _attempts.Foreign.Total;

    /// <summary>How many jobs are running on <paramref name="agentId"/> now (as the hub counts them).</summary>
    public int InFlightOn(string agentId) => _agents.InFlightOn(agentId);

    /// <summary>Accepts new jobs (made by the API: ids, hashes, sizes filled in, state queued, attempt 0; each file in
    /// <see cref="JobRecord.Content"/> or <see cref="JobRecord.ContentFile"/>): reserves room in the queue, commits them in
    /// the next group commit, then queues them for placement, keeping a file that came in memory only within the content
    /// budget (<see cref="JobTable.TryHoldContentLocked"/>; the dispatch reads the others from the store). Returns once
    /// they are committed. Throws <see cref="JobQueueFullException"/> (nothing accepted) when
    /// they do not fit, <see cref="StoreException"/> when the store failed (nothing accepted).</summary>
    public async Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken, string submitter = "")
    {
        ArgumentNullException.ThrowIfNull(jobs);
        if (jobs.Count == 0)
        {
            return;
        }

        var targets = new JobTarget[jobs.Count];
        long bytes = 0;
        for (var i = 0; i < jobs.Count; i++)
        {
            if (!JobTarget.TryParse(jobs[i].Target, out targets[i], out var targetError))
            {
                throw new ArgumentException($"job {jobs[i].Id}: {targetError}");
            }

            // Checked here as the store would: one bad submission must not fail a whole group commit.
            var job = jobs[i];
            var sizeMatches = job.ContentFile is null ? job.FileSize == job.Content.Length : job.Content.Length == 0;
            if (string.IsNullOrEmpty(job.Id) || job.State != JobStates.Queued || job.Attempt != 0 || job.LeaseOwner is not null
                || job.LeaseExpiresAt is not null || !sizeMatches || job.FileSize < 0 || job.FileSize > JobRecord.MaxContentBytes
                || job.MaxRetries < 0 || job.Timeout < TimeSpan.Zero)
            {
                throw new ArgumentException($"job '{job.Id}' is not a new queued job at attempt 0 without a lease, with at most {JobRecord.MaxContentBytes} bytes (its FileSize)");
            }

            bytes += job.FileSize;
        }

        _table.Reserve(jobs.Count, bytes, submitter);
        try
        {
            await Writer.SubmitAsync(jobs).ConfigureAwait(false);
        }
        catch
        {
            _table.Release(jobs.Count, bytes, submitter);
            throw;
        }

        var now = _time.GetUtcNow().UtcTicks;
        lock (_table.Lock)
        {
            for (var i = 0; i < jobs.Count; i++)
            {
                // Its file is in the store now; memory keeps it only within the budget.
                var submitted = jobs[i];
                var record = submitted.Content.Length == 0 && submitted.ContentFile is null ? submitted : submitted with { Content = [], ContentFile = null };
                var job = new ActiveJob(record, _table.NextOrderLocked(), targets[i]) { Submitter = submitter };
                _table.AddSubmittedLocked(job);
                if (submitted.ContentFile is null)
                {
                    _table.TryHoldContentLocked(job, submitted.Content);
                }

                _queues.EnqueueLocked(job, now);
            }
        }

        _signal.Signal();
    }

    /// <summary>Cancels a queued or running job (a running one's agent is sent job_cancel). Returns what
    /// happened and the job as it is now (null when unknown).</summary>
    public async Task<(CancelResult Result, JobRecord? Job)> CancelAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        var cancelled = await _store.CancelAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (!cancelled)
        {
            var existing = await _store.GetJobAsync(jobId, withContent: false, cancellationToken).ConfigureAwait(false);
            return (existing is null ? CancelResult.Unknown : CancelResult.AlreadyFinal, existing);
        }

        AgentConnection? notify = null;
        var attempt = 0;
        lock (_table.Lock)
        {
            if (_table.TryGetLocked(jobId, out var job) && !job.Cancelled)
            {
                job.Cancelled = true;
                switch (job.Phase)
                {
                    case JobPhase.Queued or JobPhase.Expiring:
                        _table.RemoveLocked(job, finished: false);
                        break;
                    case JobPhase.Running when !job.Sending:
                        // The slot stays counted until the agent's result (or the lease expiry) frees it.
                        notify = job.Owner?.Session;
                        attempt = job.Attempt;
                        break;
                    default:
                        // Leasing: the lease's completion sees the flag; Sending: the sender sends the cancel.
                        break;
                }
            }
        }

        notify?.Send(new JobCancel(jobId, (uint)attempt, "cancelled"));
        Log.JobCancelled(_logger, jobId);
        var now = await _store.GetJobAsync(jobId, withContent: false, cancellationToken).ConfigureAwait(false);
        return (CancelResult.Cancelled, now);
    }

    /// <summary>Loads every queued and running job at start: queued ones go to their queues; running ones
    /// stay leased to their owner, who has the disconnect grace (from now) to reconnect and re-announce them.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var records = await _store.LoadActiveAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow().UtcTicks;
        int queued = 0, running = 0;
        lock (_table.Lock)
        {
            foreach (var record in records.OrderBy(r => r.SubmittedAt).ThenBy(r => r.Id, StringComparer.Ordinal))
            {
                // A stored target was checked at submission; one the parser no longer takes runs anywhere.
                var target = JobTarget.TryParse(record.Target, out var parsed, out _) ? parsed : JobTarget.Random;
                var job = new ActiveJob(record, _table.NextOrderLocked(), target) { AvoidAgent = record.LastAgent };
                _table.AddLoadedLocked(job);
                if (record.State == JobStates.Running)
                {
                    job.Phase = JobPhase.Running;
                    job.LeaseExpiresTicks = record.LeaseExpiresAt?.UtcTicks ?? now;
                    job.DisconnectedSinceTicks = now;
                    _agents.AttachLocked(job, _agents.GetOrAddLocked(record.LeaseOwner ?? string.Empty));
                    running++;
                }
                else
                {
                    _queues.EnqueueLocked(job, now);
                    queued++;
                }
            }
        }

        Log.JobsLoaded(_logger, queued, running);
        _signal.Signal();
    }

    /// <summary>The dispatch loop (the hub runs it until stopping).</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _loop.RunAsync(cancellationToken);

    /// <summary>A session's welcome was sent: see <see cref="AgentSlots.OnAgentConnected"/>.</summary>
    public void OnAgentConnected(AgentEntry entry, AgentConnection session) => _agents.OnAgentConnected(entry, session);

    /// <summary>A session ended: see <see cref="AgentSlots.OnAgentDisconnected"/>.</summary>
    public void OnAgentDisconnected(AgentEntry entry, AgentConnection session) => _agents.OnAgentDisconnected(entry, session);

    /// <summary>job_accepted: see <see cref="JobAttempts.OnAccepted"/>.</summary>
    public void OnAccepted(AgentConnection session, JobAccepted accepted) => _attempts.OnAccepted(session, accepted);

    /// <summary>job_busy: see <see cref="JobAttempts.OnBusy"/>.</summary>
    public void OnBusy(AgentConnection session, JobBusy busy) => _attempts.OnBusy(session, busy);

    /// <summary>job_result: see <see cref="JobAttempts.OnResultAsync"/>.</summary>
    public Task OnResultAsync(AgentConnection session, JobResult result) => _attempts.OnResultAsync(session, result);

    /// <summary>Run by the hub's sweep (every second): see <see cref="LeaseSweep.Sweep"/>.</summary>
    public void Sweep(CancellationToken cancellationToken) => _sweep.Sweep(cancellationToken);

    public void Dispose() => _signal.Dispose();

    /// <summary>"250ms", "30s", "5m", "1h": how reasons name a timeout.</summary>
    internal static string FormatDuration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerHour == 0 && value >= TimeSpan.FromHours(1) ? $"{(long)value.TotalHours}h"
        : value.Ticks % TimeSpan.TicksPerMinute == 0 && value >= TimeSpan.FromMinutes(1) ? $"{(long)value.TotalMinutes}m"
        : value.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)value.TotalSeconds}s"
        : $"{(long)value.TotalMilliseconds}ms";
}

/// <summary>What <see cref="JobDispatcher.CancelAsync"/> did.</summary>
internal enum CancelResult
{
    Cancelled,
    AlreadyFinal,
    Unknown,
}
