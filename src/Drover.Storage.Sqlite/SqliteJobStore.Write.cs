using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>The writes. Each public method checks its arguments (<see cref="JobValidation"/>), then runs one
/// transaction on the writer; the work of each kind of change is one <c>Apply…</c> step of <see cref="JobChanges"/>
/// taking (commands, transaction, …, ct), shared by the single-change methods and by <see cref="ApplyAsync"/>, the
/// group commit, which runs many of them in one transaction. Retention is in SqliteJobStore.Retention.cs.</summary>
public sealed partial class SqliteJobStore
{
    /// <inheritdoc/>
    /// <remarks>Inserts are prepared once and reused for every job. Throws <see cref="ArgumentException"/>
    /// before writing anything when a job is not a new queued job or its content is over
    /// <see cref="JobRecord.MaxContentBytes"/>.</remarks>
    public Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfNotReady();
        JobValidation.ValidateSubmissions(jobs);
        if (jobs.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                await JobChanges.ApplySubmissionsAsync(commands, transaction, jobs, _recentContents, ct).ConfigureAwait(false);
                return 0;
            },
            $"the submission of {jobs.Count} jobs",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> LeaseAsync(string jobId, string agentId, int attempt, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        JobValidation.ValidateLease(jobId, agentId, attempt);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await JobChanges.ApplyLeaseAsync(commands, transaction, jobId, agentId, attempt, expiresAt, ct).ConfigureAwait(false),
            $"the lease of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>One lookup (the job, its recorded result's attempt, the attempt's history row), then at most
    /// three writes; every statement is prepared once.</remarks>
    public Task<ResultRecording> RecordResultAsync(JobResultRecord result, bool success, CancellationToken cancellationToken)
    {
        JobValidation.ValidateResult(result);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await JobChanges.ApplyResultAsync(commands, transaction, result, success, null, ct).ConfigureAwait(false),
            $"the result of job '{result.JobId}' attempt {result.Attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>The attempt history row has outcome <paramref name="reason"/> and the lease owner as its agent.</remarks>
    public Task<int> RequeueAsync(string jobId, int attempt, string reason, CancellationToken cancellationToken)
    {
        JobValidation.ValidateWithReason(jobId, reason);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await JobChanges.ApplyRequeueAsync(commands, transaction, jobId, attempt, reason, _time.GetUtcNow(), ct).ConfigureAwait(false),
            $"the requeue of job '{jobId}' attempt {attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>The job's <see cref="JobRecord.FinishedAt"/> is the store's clock; its lease fields and last
    /// agent are untouched (a queued job has no lease).</remarks>
    public Task<bool> ExpireQueuedAsync(string jobId, string reason, CancellationToken cancellationToken)
    {
        JobValidation.ValidateWithReason(jobId, reason);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await JobChanges.ApplyExpiryAsync(commands, transaction, jobId, reason, _time.GetUtcNow(), ct).ConfigureAwait(false),
            $"the expiry of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> CancelAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await commands.Get(JobSql.Cancel, transaction)
                .Bind("$id", SqliteType.Text, jobId)
                .Bind("$at", SqliteType.Integer, JobSql.ToColumn(_time.GetUtcNow()))
                .ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1,
            $"the cancellation of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Every item is checked before anything is written (<see cref="ArgumentException"/>, as the
    /// single-change methods do). The changes run on the same prepared statements as the single-change
    /// methods, with one clock reading for the batch's requeues and expiries. An empty batch writes nothing.
    /// A SQLite failure (a submitted id already stored, the disk full) rolls the whole batch back and throws
    /// <see cref="StoreException"/>; a cancellation rolls it back too.</remarks>
    public Task<JobBatchOutcome> ApplyAsync(JobBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfNotReady();
        IReadOnlyList<JobRecord> submit = batch.Submit ?? throw new ArgumentException("The batch's Submit list is null.", nameof(batch));
        IReadOnlyList<JobLease> leases = batch.Leases ?? throw new ArgumentException("The batch's Leases list is null.", nameof(batch));
        IReadOnlyList<JobResultSubmission> results = batch.Results ?? throw new ArgumentException("The batch's Results list is null.", nameof(batch));
        IReadOnlyList<JobRequeue> requeues = batch.Requeues ?? throw new ArgumentException("The batch's Requeues list is null.", nameof(batch));
        IReadOnlyList<JobExpiry> expiries = batch.Expire ?? throw new ArgumentException("The batch's Expire list is null.", nameof(batch));

        JobValidation.ValidateSubmissions(submit);
        for (int i = 0; i < leases.Count; i++)
        {
            JobLease lease = leases[i] ?? throw new ArgumentException($"Lease {i} of the batch is null.", nameof(batch));
            JobValidation.ValidateLease(lease.JobId, lease.AgentId, lease.Attempt);
        }

        for (int i = 0; i < results.Count; i++)
        {
            JobResultSubmission submission = results[i] ?? throw new ArgumentException($"Result {i} of the batch is null.", nameof(batch));
            JobValidation.ValidateResult(submission.Result);
        }

        for (int i = 0; i < requeues.Count; i++)
        {
            JobRequeue requeue = requeues[i] ?? throw new ArgumentException($"Requeue {i} of the batch is null.", nameof(batch));
            JobValidation.ValidateWithReason(requeue.JobId, requeue.Reason);
        }

        for (int i = 0; i < expiries.Count; i++)
        {
            JobExpiry expiry = expiries[i] ?? throw new ArgumentException($"Expiry {i} of the batch is null.", nameof(batch));
            JobValidation.ValidateWithReason(expiry.JobId, expiry.Reason);
        }

        if (batch.IsEmpty)
        {
            return Task.FromResult(new JobBatchOutcome([], [], [], []));
        }

        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                await JobChanges.ApplySubmissionsAsync(commands, transaction, submit, _recentContents, ct).ConfigureAwait(false);

                bool[] leased = leases.Count == 0 ? [] : new bool[leases.Count];
                for (int i = 0; i < leased.Length; i++)
                {
                    JobLease lease = leases[i];
                    leased[i] = await JobChanges.ApplyLeaseAsync(commands, transaction, lease.JobId, lease.AgentId, lease.Attempt, lease.ExpiresAt, ct).ConfigureAwait(false);
                }

                ResultRecording[] recorded = results.Count == 0 ? [] : new ResultRecording[results.Count];
                for (int i = 0; i < recorded.Length; i++)
                {
                    JobResultSubmission submission = results[i];
                    recorded[i] = await JobChanges.ApplyResultAsync(commands, transaction, submission.Result, submission.Success, submission.FailureReason, ct).ConfigureAwait(false);
                }

                DateTimeOffset now = _time.GetUtcNow();
                int[] requeued = requeues.Count == 0 ? [] : new int[requeues.Count];
                for (int i = 0; i < requeued.Length; i++)
                {
                    JobRequeue requeue = requeues[i];
                    requeued[i] = await JobChanges.ApplyRequeueAsync(commands, transaction, requeue.JobId, requeue.Attempt, requeue.Reason, now, ct).ConfigureAwait(false);
                }

                bool[] expired = expiries.Count == 0 ? [] : new bool[expiries.Count];
                for (int i = 0; i < expired.Length; i++)
                {
                    JobExpiry expiry = expiries[i];
                    expired[i] = await JobChanges.ApplyExpiryAsync(commands, transaction, expiry.JobId, expiry.Reason, now, ct).ConfigureAwait(false);
                }

                return new JobBatchOutcome(leased, recorded, requeued, expired);
            },
            $"the batch of {submit.Count} submissions, {leases.Count} leases, {results.Count} results, {requeues.Count} requeues and {expiries.Count} expiries",
            cancellationToken);
    }
}
