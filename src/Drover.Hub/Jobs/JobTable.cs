using System.Security.Cryptography;
using Drover.Storage;

namespace Drover.Hub.Jobs;

/// <summary>Every queued and running job in memory, by id, and the room they take in the queue (bounded by
/// <see cref="HubOptions.MaxQueuedJobs"/> and <see cref="HubOptions.MaxQueuedBytes"/>), with the counters of
/// submitted and finished jobs. Its <see cref="Lock"/> is the one lock of the job side: it guards this table,
/// every <see cref="ActiveJob"/> and <see cref="JobAgent"/>, the <see cref="TargetQueues"/> and the
/// <see cref="AgentSlots"/>. Methods named <c>…Locked</c> are called with it held.</summary>
/// <remarks>Files in memory: a queued job whose file arrived in memory (a small one, see <c>Http/UploadSpool.cs</c>) keeps
/// it in <see cref="ActiveJob.Content"/> while the jobs' kept files total at most the content budget
/// (<see cref="ContentBudget"/>), so that the dispatch sends it without reading it from the store; every other file is
/// only in the store until the dispatch reads it. Jobs with the same file (by SHA-256) share one array, counted once. A
/// file leaves memory when its last job is placed (a retry reads it from the store) or leaves the table.</remarks>
internal sealed class JobTable(HubOptions options, long contentBudget = JobTable.ContentBudget)
{
    /// <summary>The most file bytes queued jobs keep in memory: 16 MiB, about 4,000 files of 4 KiB, more than the queue
    /// holds at the bench's maximum rate; a longer backlog is read from the store as it is dispatched.</summary>
    public const long ContentBudget = 16L << 20;

    private readonly HubOptions _options = options;
    private long _contentHeld;
    private readonly Dictionary<Sha256Key, KeptFile> _kept = [];
    private readonly TimeProvider _time = options.TimeProvider;
    private readonly Dictionary<string, ActiveJob> _jobs = new(StringComparer.Ordinal);
    private readonly RateWindow _finishRate = new(10);
    private long _reservedJobs;
    private long _reservedBytes;
    private readonly Dictionary<string, long> _bytesBySubmitter = new(StringComparer.Ordinal);
    private long _nextOrder;
    private long _submittedTotal;
    private long _finishedTotal;

    /// <summary>The job side's one lock. Nothing is sent and nothing awaited while it is held.</summary>
    public Lock Lock { get; } = new();

    /// <summary>Jobs in memory (queued and running).</summary>
    public int Count
    {
        get
        {
            lock (Lock)
            {
                return _jobs.Count;
            }
        }
    }

    /// <summary>Jobs in memory waiting for an agent (queued, or their expiry being committed) and leased (leasing or
    /// running): one pass under the lock, for a metrics scrape.</summary>
    public (int Queued, int Running) CountByPhase()
    {
        int queued = 0, running = 0;
        lock (Lock)
        {
            foreach (var job in _jobs.Values)
            {
                switch (job.Phase)
                {
                    case JobPhase.Queued or JobPhase.Expiring:
                        queued++;
                        break;
                    case JobPhase.Leasing or JobPhase.Running:
                        running++;
                        break;
                }
            }
        }

        return (queued, running);
    }

    /// <summary>The file bytes queued jobs keep in memory (at most the content budget).</summary>
    public long FileBytesHeld
    {
        get
        {
            lock (Lock)
            {
                return _contentHeld;
            }
        }
    }

    /// <summary>Keeps <paramref name="content"/> in <paramref name="job"/>'s memory when it fits the content budget. A file
    /// already kept for another job (the same SHA-256) is shared, not kept again and not counted again: a file sent to 1,000
    /// agents is one array. A job without a SHA-256 is not kept.</summary>
    public void TryHoldContentLocked(ActiveJob job, byte[] content)
    {
        if (job.Content is not null || job.Record.Sha256.Length != SHA256.HashSizeInBytes)
        {
            return;
        }

        var key = Sha256Key.Of(job.Record.Sha256);
        if (_kept.TryGetValue(key, out var kept))
        {
            job.Content = kept.Bytes;
            kept.Holders++;
        }
        else if (_contentHeld + content.Length <= contentBudget)
        {
            job.Content = content;
            _kept.Add(key, new KeptFile(content));
            _contentHeld += content.Length;
        }
    }

    /// <summary>Takes the job's file out of memory (placed or gone) and returns it; null when it was not kept. The array may
    /// be shared with other jobs: read it, never write it.</summary>
    public byte[]? TakeContentLocked(ActiveJob job)
    {
        var content = job.Content;
        if (content is null)
        {
            return null;
        }

        job.Content = null;
        var key = Sha256Key.Of(job.Record.Sha256);
        if (_kept.TryGetValue(key, out var kept) && --kept.Holders == 0)
        {
            _kept.Remove(key);
            _contentHeld -= content.Length;
        }

        return content;
    }

    /// <summary>A file kept in memory and how many queued jobs hold it.</summary>
    private sealed class KeptFile(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public int Holders { get; set; } = 1;
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
            lock (Lock)
            {
                return _finishRate.PerSecond(_time.GetUtcNow().UtcTicks);
            }
        }
    }

    public bool TryGetLocked(string jobId, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out ActiveJob job) =>
        _jobs.TryGetValue(jobId, out job);

    /// <summary>The next submission order (the tie-break after priority).</summary>
    public long NextOrderLocked() => _nextOrder++;

    /// <summary>Adds a submitted job, whose room was reserved by <see cref="Reserve"/>.</summary>
    public void AddSubmittedLocked(ActiveJob job)
    {
        _jobs[job.Id] = job;
        _submittedTotal++;
    }

    /// <summary>Adds a job loaded from the store at start, taking its room without a limit.</summary>
    public void AddLoadedLocked(ActiveJob job)
    {
        _jobs[job.Id] = job;
        _reservedJobs++;
        _reservedBytes += job.Size;
    }

    /// <summary>Reserves room for a submission by <paramref name="submitter"/> (an API token's id; empty: not counted per
    /// token), atomically, or throws <see cref="JobQueueFullException"/> with a retry-after estimated from the finish rate
    /// (<see cref="JobQueueFullException.PerSubmitter"/> when it is the token's own cap that is full).</summary>
    public void Reserve(int count, long bytes, string submitter)
    {
        lock (Lock)
        {
            var held = submitter.Length > 0 ? _bytesBySubmitter.GetValueOrDefault(submitter) : 0;
            if (submitter.Length > 0 && held + bytes > _options.MaxQueuedBytesPerToken)
            {
                throw new JobQueueFullException(
                    $"token {submitter} has {held} bytes of job files queued or running; the limit per token is {_options.MaxQueuedBytesPerToken} bytes and this request adds {bytes}: wait for some to finish",
                    RetryAfterLocked(Math.Max(1, (held + bytes - _options.MaxQueuedBytesPerToken + Math.Max(1, bytes / count) - 1) / Math.Max(1, bytes / count))))
                { PerSubmitter = true };
            }

            var overJobs = _reservedJobs + count - _options.MaxQueuedJobs;
            var overBytes = _reservedBytes + bytes - _options.MaxQueuedBytes;
            if (overJobs <= 0 && overBytes <= 0)
            {
                _reservedJobs += count;
                _reservedBytes += bytes;
                if (submitter.Length > 0)
                {
                    _bytesBySubmitter[submitter] = held + bytes;
                }

                return;
            }

            var averageSize = _reservedJobs > 0 ? Math.Max(1, _reservedBytes / _reservedJobs) : Math.Max(1, bytes / count);
            var retryAfter = RetryAfterLocked(Math.Max(overJobs, (overBytes + averageSize - 1) / averageSize));
            throw new JobQueueFullException(
                $"the job queue is full: {_reservedJobs} jobs ({_reservedBytes} bytes) queued or running, the limit is {_options.MaxQueuedJobs} jobs and {_options.MaxQueuedBytes} bytes; this request adds {count} jobs ({bytes} bytes)",
                retryAfter);
        }
    }

    /// <summary>Gives back the room of a submission that was not committed.</summary>
    public void Release(int count, long bytes, string submitter)
    {
        lock (Lock)
        {
            _reservedJobs -= count;
            _reservedBytes -= bytes;
            ReleaseSubmitterLocked(submitter, bytes);
        }
    }

    /// <summary>When <paramref name="mustFinish"/> jobs will have finished at the recent finish rate (5 s when none
    /// finished lately), between 1 s and an hour.</summary>
    private TimeSpan RetryAfterLocked(long mustFinish)
    {
        var rate = _finishRate.PerSecond(_time.GetUtcNow().UtcTicks);
        var seconds = rate > 0 ? Math.Ceiling(mustFinish / rate) : 5;
        return TimeSpan.FromSeconds(Math.Clamp(seconds, 1, 3600));
    }

    private void ReleaseSubmitterLocked(string submitter, long bytes)
    {
        if (submitter.Length > 0 && _bytesBySubmitter.TryGetValue(submitter, out var held))
        {
            if (held - bytes <= 0)
            {
                _bytesBySubmitter.Remove(submitter);
            }
            else
            {
                _bytesBySubmitter[submitter] = held - bytes;
            }
        }
    }

    /// <summary>Takes a job out of memory: done or dead (<paramref name="finished"/>), or cancelled.</summary>
    public void RemoveLocked(ActiveJob job, bool finished)
    {
        if (job.Phase == JobPhase.Gone)
        {
            return;
        }

        job.Phase = JobPhase.Gone;
        TakeContentLocked(job);
        _jobs.Remove(job.Id);
        _reservedJobs--;
        _reservedBytes -= job.Size;
        ReleaseSubmitterLocked(job.Submitter, job.Size);
        if (finished)
        {
            _finishedTotal++;
            _finishRate.Add(_time.GetUtcNow().UtcTicks);
        }
    }
}

/// <summary>The queue is over its limit; nothing of the submission was accepted.</summary>
internal sealed class JobQueueFullException(string message, TimeSpan retryAfter) : Exception(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;

    /// <summary>The submitting token's own cap (<see cref="HubOptions.MaxQueuedBytesPerToken"/>) is full, not the queue.</summary>
    public bool PerSubmitter { get; init; }
}
