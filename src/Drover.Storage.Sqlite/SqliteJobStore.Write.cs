using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>The writes. Each public method checks its arguments, then runs one transaction on the writer;
/// the work of each kind of change is one private <c>Apply…</c> helper taking (commands, transaction, …, ct),
/// shared by the single-change methods and by <see cref="ApplyAsync"/>, which runs many of them in one
/// transaction.</summary>
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
        ValidateSubmissions(jobs);
        if (jobs.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                await ApplySubmissionsAsync(commands, transaction, jobs, ct).ConfigureAwait(false);
                return 0;
            },
            $"the submission of {jobs.Count} jobs",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> LeaseAsync(string jobId, string agentId, int attempt, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        ValidateLease(jobId, agentId, attempt);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await ApplyLeaseAsync(commands, transaction, jobId, agentId, attempt, expiresAt, ct).ConfigureAwait(false),
            $"the lease of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>One lookup (the job, its recorded result's attempt, the attempt's history row), then at most
    /// three writes; every statement is prepared once.</remarks>
    public Task<ResultRecording> RecordResultAsync(JobResultRecord result, bool success, CancellationToken cancellationToken)
    {
        ValidateResult(result);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await ApplyResultAsync(commands, transaction, result, success, null, ct).ConfigureAwait(false),
            $"the result of job '{result.JobId}' attempt {result.Attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>The attempt history row has outcome <paramref name="reason"/> and the lease owner as its agent.</remarks>
    public Task<int> RequeueAsync(string jobId, int attempt, string reason, CancellationToken cancellationToken)
    {
        ValidateWithReason(jobId, reason);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await ApplyRequeueAsync(commands, transaction, jobId, attempt, reason, _time.GetUtcNow(), ct).ConfigureAwait(false),
            $"the requeue of job '{jobId}' attempt {attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>The job's <see cref="JobRecord.FinishedAt"/> is the store's clock; its lease fields and last
    /// agent are untouched (a queued job has no lease).</remarks>
    public Task<bool> ExpireQueuedAsync(string jobId, string reason, CancellationToken cancellationToken)
    {
        ValidateWithReason(jobId, reason);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) => await ApplyExpiryAsync(commands, transaction, jobId, reason, _time.GetUtcNow(), ct).ConfigureAwait(false),
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

        ValidateSubmissions(submit);
        for (int i = 0; i < leases.Count; i++)
        {
            JobLease lease = leases[i] ?? throw new ArgumentException($"Lease {i} of the batch is null.", nameof(batch));
            ValidateLease(lease.JobId, lease.AgentId, lease.Attempt);
        }

        for (int i = 0; i < results.Count; i++)
        {
            JobResultSubmission submission = results[i] ?? throw new ArgumentException($"Result {i} of the batch is null.", nameof(batch));
            ValidateResult(submission.Result);
        }

        for (int i = 0; i < requeues.Count; i++)
        {
            JobRequeue requeue = requeues[i] ?? throw new ArgumentException($"Requeue {i} of the batch is null.", nameof(batch));
            ValidateWithReason(requeue.JobId, requeue.Reason);
        }

        for (int i = 0; i < expiries.Count; i++)
        {
            JobExpiry expiry = expiries[i] ?? throw new ArgumentException($"Expiry {i} of the batch is null.", nameof(batch));
            ValidateWithReason(expiry.JobId, expiry.Reason);
        }

        if (batch.IsEmpty)
        {
            return Task.FromResult(new JobBatchOutcome([], [], [], []));
        }

        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                await ApplySubmissionsAsync(commands, transaction, submit, ct).ConfigureAwait(false);

                bool[] leased = leases.Count == 0 ? [] : new bool[leases.Count];
                for (int i = 0; i < leased.Length; i++)
                {
                    JobLease lease = leases[i];
                    leased[i] = await ApplyLeaseAsync(commands, transaction, lease.JobId, lease.AgentId, lease.Attempt, lease.ExpiresAt, ct).ConfigureAwait(false);
                }

                ResultRecording[] recorded = results.Count == 0 ? [] : new ResultRecording[results.Count];
                for (int i = 0; i < recorded.Length; i++)
                {
                    JobResultSubmission submission = results[i];
                    recorded[i] = await ApplyResultAsync(commands, transaction, submission.Result, submission.Success, submission.FailureReason, ct).ConfigureAwait(false);
                }

                DateTimeOffset now = _time.GetUtcNow();
                int[] requeued = requeues.Count == 0 ? [] : new int[requeues.Count];
                for (int i = 0; i < requeued.Length; i++)
                {
                    JobRequeue requeue = requeues[i];
                    requeued[i] = await ApplyRequeueAsync(commands, transaction, requeue.JobId, requeue.Attempt, requeue.Reason, now, ct).ConfigureAwait(false);
                }

                bool[] expired = expiries.Count == 0 ? [] : new bool[expiries.Count];
                for (int i = 0; i < expired.Length; i++)
                {
                    JobExpiry expiry = expiries[i];
                    expired[i] = await ApplyExpiryAsync(commands, transaction, expiry.JobId, expiry.Reason, now, ct).ConfigureAwait(false);
                }

                return new JobBatchOutcome(leased, recorded, requeued, expired);
            },
            $"the batch of {submit.Count} submissions, {leases.Count} leases, {results.Count} results, {requeues.Count} requeues and {expiries.Count} expiries",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Five statements on the prepared commands, each selecting the same jobs through the partial index
    /// <c>jobs_finished</c> (migration 2 → 3): content, results, attempts and stale results first, the jobs last.
    /// The cost is proportional to the rows deleted, not to the size of the table; the hub keeps
    /// <paramref name="limit"/> small enough (10,000) that its group commit never waits long behind a prune.</remarks>
    public Task<int> PruneFinishedAsync(DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                int deleted = 0;
                foreach (string sql in JobSql.Prune)
                {
                    deleted = await commands.Get(sql, transaction)
                        .Bind("$before", SqliteType.Integer, JobSql.ToColumn(finishedBefore))
                        .Bind("$limit", SqliteType.Integer, limit)
                        .ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return deleted;
            },
            $"the pruning of up to {limit} jobs finished before {finishedBefore:O}",
            cancellationToken);
    }

    private static async ValueTask ApplySubmissionsAsync(PreparedCommands commands, SqliteTransaction transaction, IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        SqliteCommand insert = commands.Get(JobSql.InsertJob, transaction);
        SqliteCommand content = commands.Get(JobSql.InsertContent, transaction);
        for (int i = 0; i < jobs.Count; i++)
        {
            JobRecord job = jobs[i];
            await insert
                .Bind("$id", SqliteType.Text, job.Id)
                .Bind("$priority", SqliteType.Integer, job.Priority)
                .Bind("$target", SqliteType.Text, job.Target ?? string.Empty)
                .Bind("$file_name", SqliteType.Text, job.FileName ?? string.Empty)
                .Bind("$file_size", SqliteType.Integer, job.FileSize)
                .Bind("$sha256", SqliteType.Blob, job.Sha256 ?? [])
                .Bind("$args", SqliteType.Text, job.Args ?? string.Empty)
                .Bind("$timeout_ms", SqliteType.Integer, (long)job.Timeout.TotalMilliseconds)
                .Bind("$max_retries", SqliteType.Integer, job.MaxRetries)
                .Bind("$submitted_at", SqliteType.Integer, JobSql.ToColumn(job.SubmittedAt))
                .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await content
                .Bind("$id", SqliteType.Text, job.Id)
                .Bind("$content", SqliteType.Blob, job.Content ?? [])
                .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async ValueTask<bool> ApplyLeaseAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        string jobId,
        string agentId,
        int attempt,
        DateTimeOffset expiresAt,
        CancellationToken cancellationToken) =>
        await commands.Get(JobSql.Lease, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$agent", SqliteType.Text, agentId)
            .Bind("$attempt", SqliteType.Integer, attempt)
            .Bind("$expires_at", SqliteType.Integer, JobSql.ToColumn(expiresAt))
            .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;

    private static async ValueTask<ResultRecording> ApplyResultAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        JobResultRecord result,
        bool success,
        string? failureReason,
        CancellationToken cancellationToken)
    {
        string? state = null;
        int attempt = 0;
        long? recordedAttempt = null;
        long? history = null;
        SqliteCommand select = commands.Get(JobSql.SelectForResult, transaction)
            .Bind("$id", SqliteType.Text, result.JobId)
            .Bind("$attempt", SqliteType.Integer, result.Attempt);
        SqliteDataReader reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                state = reader.GetString(0);
                attempt = reader.GetInt32(1);
                recordedAttempt = reader.IsDBNull(2) ? null : reader.GetInt64(2);
                history = reader.IsDBNull(3) ? null : reader.GetInt64(3);
            }
        }

        if (state is null)
        {
            return ResultRecording.UnknownJob;
        }

        // The recorded result is this attempt's, or a result already wrote this attempt's history row.
        if (recordedAttempt == result.Attempt || history == 1)
        {
            return ResultRecording.Duplicate;
        }

        // Not the current attempt, or the current one already given up by a requeue.
        if (result.Attempt != attempt || history is not null)
        {
            await JobSql.BindResult(commands.Get(JobSql.InsertStale, transaction), result).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return ResultRecording.StaleAttempt;
        }

        if (state != JobStates.Running)
        {
            return ResultRecording.NotRunning;
        }

        await JobSql.BindResult(commands.Get(JobSql.UpsertResult, transaction), result).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        if (success)
        {
            await commands.Get(JobSql.MarkDone, transaction)
                .Bind("$id", SqliteType.Text, result.JobId)
                .Bind("$agent", SqliteType.Text, result.AgentId ?? string.Empty)
                .Bind("$at", SqliteType.Integer, JobSql.ToColumn(result.RecordedAt))
                .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await InsertAttemptAsync(commands, transaction, result.JobId, result.Attempt, result.AgentId, result.Outcome ?? string.Empty, result.ExitCode, result.Error ?? string.Empty, fromResult: true, result.RecordedAt, cancellationToken).ConfigureAwait(false);
            string reason = failureReason ?? (string.IsNullOrEmpty(result.Error) ? result.Outcome ?? string.Empty : result.Error);
            await RetryOrDieAsync(commands, transaction, result.JobId, result.AgentId, reason, result.RecordedAt, cancellationToken).ConfigureAwait(false);
        }

        return ResultRecording.Recorded;
    }

    private static async ValueTask<int> ApplyRequeueAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        string jobId,
        int attempt,
        string reason,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        string? owner = null;
        bool running = false;
        SqliteCommand select = commands.Get(JobSql.SelectRunningAttempt, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$attempt", SqliteType.Integer, attempt);
        SqliteDataReader reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                running = true;
                owner = reader.IsDBNull(0) ? null : reader.GetString(0);
            }
        }

        if (!running)
        {
            return 0;
        }

        await InsertAttemptAsync(commands, transaction, jobId, attempt, owner, reason, null, reason, fromResult: false, now, cancellationToken).ConfigureAwait(false);
        await RetryOrDieAsync(commands, transaction, jobId, owner, reason, now, cancellationToken).ConfigureAwait(false);
        return 1;
    }

    private static async ValueTask<bool> ApplyExpiryAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        string jobId,
        string reason,
        DateTimeOffset now,
        CancellationToken cancellationToken) =>
        await commands.Get(JobSql.ExpireQueued, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$reason", SqliteType.Text, reason)
            .Bind("$at", SqliteType.Integer, JobSql.ToColumn(now))
            .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;

    private static void ValidateSubmissions(IReadOnlyList<JobRecord> jobs)
    {
        for (int i = 0; i < jobs.Count; i++)
        {
            Validate(jobs[i]);
        }
    }

    private static void ValidateLease(string jobId, string agentId, int attempt)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentException.ThrowIfNullOrEmpty(agentId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attempt);
    }

    private static void ValidateResult(JobResultRecord result)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(result.JobId);
    }

    /// <summary>For a requeue or an expiry.</summary>
    private static void ValidateWithReason(string jobId, string reason)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentNullException.ThrowIfNull(reason);
    }

    private static void Validate(JobRecord job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (string.IsNullOrEmpty(job.Id))
        {
            throw new ArgumentException("A job record has no id.", nameof(job));
        }

        if (job.State != JobStates.Queued || job.Attempt != 0 || job.LeaseOwner is not null || job.LeaseExpiresAt is not null)
        {
            throw new ArgumentException($"Job '{job.Id}' is not a new job: it must be queued, at attempt 0, with no lease.", nameof(job));
        }

        if (job.Content is { Length: > JobRecord.MaxContentBytes })
        {
            throw new ArgumentException($"Job '{job.Id}' has {job.Content.Length} bytes of content; the limit is {JobRecord.MaxContentBytes}.", nameof(job));
        }

        if (job.MaxRetries < 0 || job.Timeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"Job '{job.Id}' has a negative MaxRetries or Timeout.", nameof(job));
        }
    }

    private static Task<int> InsertAttemptAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        string jobId,
        int attempt,
        string? agentId,
        string outcome,
        int? exitCode,
        string error,
        bool fromResult,
        DateTimeOffset at,
        CancellationToken cancellationToken) =>
        commands.Get(JobSql.InsertAttempt, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$attempt", SqliteType.Integer, attempt)
            .Bind("$agent", SqliteType.Text, agentId)
            .Bind("$outcome", SqliteType.Text, outcome)
            .Bind("$exit_code", SqliteType.Integer, exitCode)
            .Bind("$error", SqliteType.Text, error)
            .Bind("$from_result", SqliteType.Integer, fromResult ? 1 : 0)
            .Bind("$recorded_at", SqliteType.Integer, JobSql.ToColumn(at))
            .ExecuteNonQueryAsync(cancellationToken);

    private static Task<int> RetryOrDieAsync(
        PreparedCommands commands,
        SqliteTransaction transaction,
        string jobId,
        string? agentId,
        string reason,
        DateTimeOffset at,
        CancellationToken cancellationToken) =>
        commands.Get(JobSql.RetryOrDie, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$agent", SqliteType.Text, string.IsNullOrEmpty(agentId) ? null : agentId)
            .Bind("$reason", SqliteType.Text, reason)
            .Bind("$at", SqliteType.Integer, JobSql.ToColumn(at))
            .ExecuteNonQueryAsync(cancellationToken);
}
