namespace Drover.Storage;

/// <summary>Changes for <see cref="IJobStore.ApplyAsync"/>, applied in one transaction in the order of the properties.</summary>
public sealed record JobBatch
{
    public IReadOnlyList<JobRecord> Submit { get; init; } = [];

    public IReadOnlyList<JobLease> Leases { get; init; } = [];

    public IReadOnlyList<JobResultSubmission> Results { get; init; } = [];

    public IReadOnlyList<JobRequeue> Requeues { get; init; } = [];

    public IReadOnlyList<JobExpiry> Expire { get; init; } = [];

    public bool IsEmpty => Submit.Count == 0 && Leases.Count == 0 && Results.Count == 0 && Requeues.Count == 0 && Expire.Count == 0;
}

/// <summary>One lease in a <see cref="JobBatch"/>: as <see cref="IJobStore.LeaseAsync"/>.</summary>
public sealed record JobLease(string JobId, string AgentId, int Attempt, DateTimeOffset ExpiresAt);

/// <summary>One result in a <see cref="JobBatch"/>: as <see cref="IJobStore.RecordResultAsync"/>.</summary>
/// <param name="FailureReason">For a failure, why the attempt failed in words: the job's dead reason when it was the
/// last attempt allowed. Null: the result's error, else its outcome (as <see cref="IJobStore.RecordResultAsync"/>).</param>
public sealed record JobResultSubmission(JobResultRecord Result, bool Success, string? FailureReason = null);

/// <summary>One requeue in a <see cref="JobBatch"/>: as <see cref="IJobStore.RequeueAsync"/>.</summary>
public sealed record JobRequeue(string JobId, int Attempt, string Reason);

/// <summary>One expiry in a <see cref="JobBatch"/>: as <see cref="IJobStore.ExpireQueuedAsync"/>.</summary>
public sealed record JobExpiry(string JobId, string Reason);

/// <summary>What <see cref="IJobStore.ApplyAsync"/> did, item by item, in the order of the batch's lists.</summary>
public sealed record JobBatchOutcome(
    IReadOnlyList<bool> Leased,
    IReadOnlyList<ResultRecording> Results,
    IReadOnlyList<int> Requeued,
    IReadOnlyList<bool> Expired);
