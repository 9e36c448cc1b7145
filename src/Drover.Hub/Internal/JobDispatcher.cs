using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Internal;

/// <summary>The job side of the hub: the in-memory queue (every queued and running job, bounded by
/// <see cref="HubOptions.MaxQueuedJobs"/> and <see cref="HubOptions.MaxQueuedBytes"/>), placement,
/// leases, timeouts and retries, with every state change group-committed to the <see cref="IJobStore"/>
/// by the <see cref="JobWriter"/>. Partial files: Placement (queues and the dispatch loop), Agents (agent
/// sessions and their messages), Sweep (lease expiry, disconnect grace, agent-target expiry), Retention (pruning
/// finished jobs).</summary>
/// <remarks>
/// <para>Concurrency: one lock (<c>_lock</c>) guards every <see cref="ActiveJob"/>, <see cref="JobAgent"/> and
/// queue. Nothing is sent and nothing awaited while it is held: frames go out after it is released (a job
/// frame with <see cref="ActiveJob.Sending"/> set, so that a cancel decided meanwhile follows the job).</para>
/// <para>The store is the arbiter: every change is conditional there (a lease on a queued job, a result for
/// the running attempt, a requeue of the running attempt), and memory follows what the store answered, so
/// a result and a lease expiry that race end as exactly one of them.</para>
/// </remarks>
internal sealed partial class JobDispatcher : IDisposable
{
    private readonly Lock _lock = new();
    private readonly IJobStore _store;
    private readonly JobWriter _writer;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, ActiveJob> _jobs = new(StringComparer.Ordinal);
    private readonly RateWindow _finishRate;
    private long _reservedJobs;
    private long _reservedBytes;
    private long _nextOrder;
    private long _submittedTotal;
    private long _finishedTotal;

    public JobDispatcher(IJobStore store, HubOptions options, ILogger logger)
    {
        _store = store;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
        _writer = new JobWriter(store, logger, _time);
        _finishRate = new RateWindow(10);
    }

    /// <summary>The group commit (the hub runs its loop).</summary>
    internal JobWriter Writer => _writer;

    /// <summary>Jobs in memory (queued and running).</summary>
    internal int ActiveCount
    {
        get
        {
            lock (_lock)
            {
                return _jobs.Count;
            }
        }
    }

    /// <summary>Accepts new jobs (made by the API: ids, hashes, sizes filled in, state queued, attempt 0):
    /// reserves room in the queue, commits them in the next group commit, then queues them for placement.
    /// Returns once they are committed. Throws <see cref="JobQueueFullException"/> (nothing accepted) when
    /// they do not fit, <see cref="StoreException"/> when the store failed (nothing accepted).</summary>
    public async Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken)
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
            if (string.IsNullOrEmpty(job.Id) || job.State != JobStates.Queued || job.Attempt != 0 || job.LeaseOwner is not null
                || job.LeaseExpiresAt is not null || job.Content.Length > JobRecord.MaxContentBytes || job.MaxRetries < 0 || job.Timeout < TimeSpan.Zero)
            {
                throw new ArgumentException($"job '{job.Id}' is not a new queued job at attempt 0 without a lease, with at most {JobRecord.MaxContentBytes} bytes");
            }

            bytes += job.Content.Length;
        }

        Reserve(jobs.Count, bytes);
        try
        {
            await _writer.SubmitAsync(jobs).ConfigureAwait(false);
        }
        catch
        {
            Release(jobs.Count, bytes);
            throw;
        }

        var now = _time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            for (var i = 0; i < jobs.Count; i++)
            {
                var job = new ActiveJob(jobs[i], _nextOrder++, targets[i]);
                _jobs[job.Id] = job;
                EnqueueLocked(job, now);
            }

            _submittedTotal += jobs.Count;
        }

        Signal();
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
        lock (_lock)
        {
            if (_jobs.TryGetValue(jobId, out var job) && !job.Cancelled)
            {
                job.Cancelled = true;
                switch (job.Phase)
                {
                    case JobPhase.Queued or JobPhase.Expiring:
                        RemoveLocked(job, finished: false);
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

        notify?.Send(new Protocol.JobCancel(jobId, (uint)attempt, "cancelled"));
        Log.JobCancelled(_logger, jobId);
        var now = await _store.GetJobAsync(jobId, withContent: false, cancellationToken).ConfigureAwait(false);
        return (CancelResult.Cancelled, now);
    }

    /// <summary>Jobs accepted since start.</summary>
    public long SubmittedTotal => Interlocked.Read(ref _submittedTotal);

    /// <summary>Jobs that reached done or dead since start.</summary>
    public long FinishedTotal => Interlocked.Read(ref _finishedTotal);

    /// <summary>Jobs finished per second over the last 10 s.</summary>
    public double FinishedPerSecond
    {
        get
        {
            lock (_lock)
            {
                return _finishRate.PerSecond(_time.GetUtcNow().UtcTicks);
            }
        }
    }

    /// <summary>How many jobs are running on <paramref name="agentId"/> now (as the hub counts them).</summary>
    public int InFlightOn(string agentId)
    {
        lock (_lock)
        {
            return _agents.TryGetValue(agentId, out var agent) ? agent.InFlight : 0;
        }
    }

    /// <summary>Loads every queued and running job at start: queued ones go to their queues; running ones
    /// stay leased to their owner, who has the disconnect grace (from now) to reconnect and re-announce them.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var records = await _store.LoadActiveAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow().UtcTicks;
        int queued = 0, running = 0;
        lock (_lock)
        {
            foreach (var record in records.OrderBy(r => r.SubmittedAt).ThenBy(r => r.Id, StringComparer.Ordinal))
            {
                // A stored target was checked at submission; one the parser no longer takes runs anywhere.
                var target = JobTarget.TryParse(record.Target, out var parsed, out _) ? parsed : JobTarget.Random;
                var job = new ActiveJob(record, _nextOrder++, target) { AvoidAgent = record.LastAgent };
                _jobs[job.Id] = job;
                _reservedJobs++;
                _reservedBytes += job.Size;
                if (record.State == JobStates.Running)
                {
                    var owner = GetOrAddAgentLocked(record.LeaseOwner ?? string.Empty);
                    job.Phase = JobPhase.Running;
                    job.Owner = owner;
                    job.LeaseExpiresTicks = record.LeaseExpiresAt?.UtcTicks ?? now;
                    job.DisconnectedSinceTicks = now;
                    owner.Jobs.Add(job);
                    ChangeInFlightLocked(owner, +1);
                    running++;
                }
                else
                {
                    EnqueueLocked(job, now);
                    queued++;
                }
            }
        }

        Log.JobsLoaded(_logger, queued, running);
        Signal();
    }

    public void Dispose() => _wake.Dispose();

    /// <summary>Reserves room for a submission, atomically, or throws <see cref="JobQueueFullException"/>
    /// with a retry-after estimated from the finish rate.</summary>
    private void Reserve(int count, long bytes)
    {
        lock (_lock)
        {
            var overJobs = _reservedJobs + count - _options.MaxQueuedJobs;
            var overBytes = _reservedBytes + bytes - _options.MaxQueuedBytes;
            if (overJobs <= 0 && overBytes <= 0)
            {
                _reservedJobs += count;
                _reservedBytes += bytes;
                return;
            }

            var averageSize = _reservedJobs > 0 ? Math.Max(1, _reservedBytes / _reservedJobs) : Math.Max(1, bytes / count);
            var mustFinish = Math.Max(overJobs, (overBytes + averageSize - 1) / averageSize);
            var rate = _finishRate.PerSecond(_time.GetUtcNow().UtcTicks);
            var seconds = rate > 0 ? Math.Ceiling(mustFinish / rate) : 5;
            var retryAfter = TimeSpan.FromSeconds(Math.Clamp(seconds, 1, 3600));
            throw new JobQueueFullException(
                $"the job queue is full: {_reservedJobs} jobs ({_reservedBytes} bytes) queued or running, the limit is {_options.MaxQueuedJobs} jobs and {_options.MaxQueuedBytes} bytes; this request adds {count} jobs ({bytes} bytes)",
                retryAfter);
        }
    }

    private void Release(int count, long bytes)
    {
        lock (_lock)
        {
            _reservedJobs -= count;
            _reservedBytes -= bytes;
        }
    }

    /// <summary>Takes a job out of memory: done or dead (<paramref name="finished"/>), or cancelled.</summary>
    private void RemoveLocked(ActiveJob job, bool finished)
    {
        if (job.Phase == JobPhase.Gone)
        {
            return;
        }

        job.Phase = JobPhase.Gone;
        _jobs.Remove(job.Id);
        _reservedJobs--;
        _reservedBytes -= job.Size;
        if (finished)
        {
            _finishedTotal++;
            _finishRate.Add(_time.GetUtcNow().UtcTicks);
        }
    }

    /// <summary>"250ms", "30s", "5m", "1h": how reasons name a timeout.</summary>
    internal static string FormatDuration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerHour == 0 && value >= TimeSpan.FromHours(1) ? $"{(long)value.TotalHours}h"
        : value.Ticks % TimeSpan.TicksPerMinute == 0 && value >= TimeSpan.FromMinutes(1) ? $"{(long)value.TotalMinutes}m"
        : value.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)value.TotalSeconds}s"
        : $"{(long)value.TotalMilliseconds}ms";

    /// <summary>Events per second over a sliding window of whole seconds (guarded by the dispatcher's lock).</summary>
    private sealed class RateWindow(int seconds)
    {
        private readonly long[] _counts = new long[seconds];
        private readonly long[] _second = new long[seconds];

        public void Add(long nowTicks)
        {
            var second = nowTicks / TimeSpan.TicksPerSecond;
            var slot = (int)(second % _counts.Length);
            if (_second[slot] != second)
            {
                _second[slot] = second;
                _counts[slot] = 0;
            }

            _counts[slot]++;
        }

        public double PerSecond(long nowTicks)
        {
            var second = nowTicks / TimeSpan.TicksPerSecond;
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                if (second - _second[i] < _counts.Length)
                {
                    total += _counts[i];
                }
            }

            return (double)total / _counts.Length;
        }
    }
}

/// <summary>What <see cref="JobDispatcher.CancelAsync"/> did.</summary>
internal enum CancelResult
{
    Cancelled,
    AlreadyFinal,
    Unknown,
}

/// <summary>The queue is over its limit; nothing of the submission was accepted.</summary>
internal sealed class JobQueueFullException(string message, TimeSpan retryAfter) : Exception(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
