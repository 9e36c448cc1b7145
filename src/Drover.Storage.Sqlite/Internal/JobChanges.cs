using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The transaction steps of the job store's writes: one <c>Apply…</c> method per kind of change (submissions,
/// a lease, a result, a requeue, an expiry), each run inside a transaction the caller holds on the write connection's
/// prepared <see cref="PreparedCommands"/>, so that <see cref="SqliteJobStore.ApplyAsync"/> (the group commit) and the
/// single-change methods share them. Arguments are checked beforehand (<see cref="JobValidation"/>).</summary>
internal static class JobChanges
{
    public static async ValueTask ApplySubmissionsAsync(PreparedCommands commands, SqliteTransaction transaction, IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken)
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

    public static async ValueTask<bool> ApplyLeaseAsync(
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

    public static async ValueTask<ResultRecording> ApplyResultAsync(
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

    public static async ValueTask<int> ApplyRequeueAsync(
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

    public static async ValueTask<bool> ApplyExpiryAsync(
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
