namespace Drover.Storage;

/// <summary>Where the hub keeps its jobs: the hard state. Every write is one transaction and returns
/// when it is committed; every state change is conditional on the state it expects, so a change that
/// lost a race reports so instead of overwriting.</summary>
public interface IJobStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema. Safe to call on an existing store.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Stores new jobs, all in one transaction: all or nothing. Every job must be
    /// <see cref="JobStates.Queued"/> with <see cref="JobRecord.Attempt"/> 0 and no lease; an id that is
    /// already stored (or twice in the list) fails the whole call with <see cref="StoreException"/> and
    /// stores none of them. A job's content comes from <see cref="JobRecord.Content"/> or, when it is set, from
    /// <see cref="JobRecord.ContentFile"/> (copied in bounded chunks; a file that cannot be read, or whose length is not
    /// <see cref="JobRecord.FileSize"/>, fails the call with <see cref="StoreException"/>). Jobs whose files are the same may share one
    /// stored copy (kept while any of them is stored); each reads back its own file. <see cref="JobRecord.Sha256"/> must be
    /// the SHA-256 of the content: a job whose hash is missing or not its content's fails the call with
    /// <see cref="ArgumentException"/> (with <see cref="StoreException"/> for a content file, checked as it is read). Returns
    /// when it is committed.</summary>
    Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken);

    /// <summary>How many jobs are queued.</summary>
    Task<int> CountQueuedAsync(CancellationToken cancellationToken);

    /// <summary>One job, or null. Its <see cref="JobRecord.Content"/> is loaded only when <paramref name="withContent"/>
    /// (the API's polling reads a job many times and never needs its file).</summary>
    Task<JobRecord?> GetJobAsync(string id, bool withContent, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> jobs sorted by id (ordinal), with ids after
    /// <paramref name="afterId"/> when it is given (paging), in <paramref name="state"/> when it is given,
    /// whose lease owner or last agent is <paramref name="agent"/> when it is given. Content is not
    /// loaded: <see cref="JobRecord.Content"/> is empty.</summary>
    Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? state, string? agent, int limit, string? afterId, CancellationToken cancellationToken);

    /// <summary>As <see cref="ListJobsAsync(string?, string?, int, string?, CancellationToken)"/>, only jobs submitted at or
    /// after <paramref name="submittedSince"/> when it is given; with <paramref name="newestFirst"/> sorted by id descending
    /// (the newest submission first), <paramref name="afterId"/> then meaning ids before it.</summary>
    Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? state, string? agent, DateTimeOffset? submittedSince, int limit, string? afterId, bool newestFirst, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> queued jobs with their content, highest priority first,
    /// then oldest submitted first (then by id).</summary>
    Task<IReadOnlyList<JobRecord>> LoadQueuedAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Moves a queued job to running for <paramref name="attempt"/>, leased to
    /// <paramref name="agentId"/> until <paramref name="expiresAt"/>, atomically. False (nothing changed)
    /// when the job is not queued or <paramref name="attempt"/> is not above its current attempt.</summary>
    Task<bool> LeaseAsync(string jobId, string agentId, int attempt, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Records an agent's result, idempotently. The first result for the job's current attempt
    /// while it is running is stored as the job's result (one per job: a later attempt's replaces it) and
    /// returns <see cref="ResultRecording.Recorded"/>: with <paramref name="success"/> the job becomes
    /// <see cref="JobStates.Done"/>; without, the attempt is added to the attempt history and the job
    /// goes back to <see cref="JobStates.Queued"/> while <c>Attempt &lt;= MaxRetries</c>, else becomes
    /// <see cref="JobStates.Dead"/> with the result's error (or outcome) as its reason. The same
    /// (job, attempt) again returns <see cref="ResultRecording.Duplicate"/>; see <see cref="ResultRecording"/>
    /// for the other answers, which change nothing.</summary>
    Task<ResultRecording> RecordResultAsync(JobResultRecord result, bool success, CancellationToken cancellationToken);

    /// <summary>The job's latest recorded result, or null. Its <see cref="JobResultRecord.OutFile"/> (up to the hub's
    /// result size limit) is loaded only when <paramref name="withOutFile"/>: a job's view, polled and listed, shows the
    /// result's tails and never needs the file.</summary>
    Task<JobResultRecord?> GetResultAsync(string jobId, bool withOutFile, CancellationToken cancellationToken);

    /// <summary>Gives up a running attempt (its lease was lost, its agent died, it timed out): the job goes
    /// back to queued, or dead with <paramref name="reason"/> when its retries are used up, and the attempt
    /// is added to the attempt history. Returns 1 if the job was running with <paramref name="attempt"/>,
    /// else 0 (nothing changed).</summary>
    Task<int> RequeueAsync(string jobId, int attempt, string reason, CancellationToken cancellationToken);

    /// <summary>The running jobs whose lease expired at or before <paramref name="now"/>, without content.</summary>
    Task<IReadOnlyList<JobRecord>> ExpiredLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Cancels a queued or running job (its lease is dropped; the agent becomes its last agent).
    /// False (nothing changed) for any other state or an unknown job.</summary>
    Task<bool> CancelAsync(string jobId, CancellationToken cancellationToken);

    /// <summary>Applies many changes in one transaction, in this order: <see cref="JobBatch.Submit"/> (as
    /// <see cref="SubmitAsync"/>), <see cref="JobBatch.Leases"/> (each as <see cref="LeaseAsync"/>),
    /// <see cref="JobBatch.Results"/> (each as <see cref="RecordResultAsync"/>, in list order, so a second
    /// result for the same (job, attempt) in one batch is a duplicate), <see cref="JobBatch.Requeues"/> (each
    /// as <see cref="RequeueAsync"/>), <see cref="JobBatch.Expire"/> (each as <see cref="ExpireQueuedAsync"/>).
    /// All or nothing: if anything throws (a submitted id already stored, the disk is full) nothing is stored.
    /// Returns, in the lists' order, what each lease, result, requeue and expiry did. This is the hub's group
    /// commit: one transaction (and one fsync) for everything that arrived while the previous one ran.</summary>
    Task<JobBatchOutcome> ApplyAsync(JobBatch batch, CancellationToken cancellationToken);

    /// <summary>Every queued and running job, without content (<see cref="JobRecord.Content"/> empty): what a restarting
    /// hub reloads. The hub reads a job's file with <see cref="LoadContentAsync"/> when it dispatches it.</summary>
    Task<IReadOnlyList<JobRecord>> LoadActiveAsync(CancellationToken cancellationToken);

    /// <summary>The content of each job of <paramref name="jobIds"/>, in their order: null for a job that is not stored
    /// (unknown or pruned). What the hub reads when it sends a job to an agent: it keeps no queued job's file in memory.</summary>
    Task<IReadOnlyList<byte[]?>> LoadContentAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken);

    /// <summary>Marks a queued job dead with <paramref name="reason"/> (for example: its target agent did not
    /// come online within its timeout). False (nothing changed) when it is not queued.</summary>
    Task<bool> ExpireQueuedAsync(string jobId, string reason, CancellationToken cancellationToken);

    /// <summary>Retention: deletes up to <paramref name="limit"/> jobs in a final state (<see cref="JobStates.Done"/>,
    /// <see cref="JobStates.Dead"/>, <see cref="JobStates.Cancelled"/>) whose <see cref="JobRecord.FinishedAt"/> is
    /// before <paramref name="finishedBefore"/>, oldest first, with everything that belongs to them (content, result,
    /// attempt history, stale results), in one transaction. Queued and running jobs are never touched. A pruned job
    /// is unknown afterwards: <see cref="GetJobAsync"/> returns null and a late result for it is
    /// <see cref="ResultRecording.UnknownJob"/>. Returns how many jobs were deleted (less than
    /// <paramref name="limit"/> when no more are due).</summary>
    Task<int> PruneFinishedAsync(DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken);

    /// <summary>How many jobs are in each state: every <see cref="JobStates"/> name is a key (0 when none).</summary>
    Task<IReadOnlyDictionary<string, int>> CountByStateAsync(CancellationToken cancellationToken);

    /// <summary>The ended attempts of one job, oldest first (the attempt in flight is the job's own
    /// <see cref="JobRecord.Attempt"/>); empty for an unknown job.</summary>
    Task<IReadOnlyList<JobAttemptRecord>> ListAttemptsAsync(string jobId, CancellationToken cancellationToken);
}
