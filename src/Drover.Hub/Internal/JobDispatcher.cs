using Drover.Storage;

namespace Drover.Hub.Internal;

/// <summary>The job side of the hub: the in-memory queue (every queued and running job, bounded by
/// <see cref="HubOptions.MaxQueuedJobs"/> and <see cref="HubOptions.MaxQueuedBytes"/>), placement,
/// leases, timeouts and retries, with every state change group-committed to the <see cref="IJobStore"/>.
/// SKELETON: the hub helper implements it; the API helper codes against these signatures.</summary>
internal sealed class JobDispatcher
{
    /// <summary>Accepts new jobs (made by the API: ids, hashes, sizes filled in, state queued, attempt 0):
    /// reserves room in the queue, commits them in the next group commit, then queues them for placement.
    /// Returns once they are committed. Throws <see cref="JobQueueFullException"/> (nothing accepted) when
    /// they do not fit, <see cref="StoreException"/> when the store failed (nothing accepted).</summary>
    public Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>Cancels a queued or running job (a running one's agent is sent job_cancel). Returns what
    /// happened and the job as it is now (null when unknown).</summary>
    public Task<(CancelResult Result, JobRecord? Job)> CancelAsync(string jobId, CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>Jobs accepted since start.</summary>
    public long SubmittedTotal => throw new NotImplementedException();

    /// <summary>Jobs that reached done or dead since start.</summary>
    public long FinishedTotal => throw new NotImplementedException();

    /// <summary>Jobs finished per second over the last 10 s.</summary>
    public double FinishedPerSecond => throw new NotImplementedException();

    /// <summary>How many jobs are running on <paramref name="agentId"/> now (as the hub counts them).</summary>
    public int InFlightOn(string agentId) => throw new NotImplementedException();
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
