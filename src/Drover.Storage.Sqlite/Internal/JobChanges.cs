using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The transaction steps of the job store's writes: one <c>Apply…</c> method per kind of change (submissions,
/// a lease, a result, a requeue, an expiry), each run inside a transaction the caller holds on the write connection's
/// prepared <see cref="PreparedCommands"/>, so that <see cref="SqliteJobStore.ApplyAsync"/> (the group commit) and the
/// single-change methods share them. Arguments are checked beforehand (<see cref="JobValidation"/>).</summary>
internal static class JobChanges
{
    /// <summary>The size of the chunks a content file (<see cref="JobRecord.ContentFile"/>) is copied in.</summary>
    private const int ContentChunk = 64 * 1024;

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
            if (job.ContentFile is { } file)
            {
                await InsertContentFromFileAsync(commands, transaction, job.Id, file, job.FileSize, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await content
                    .Bind("$id", SqliteType.Text, job.Id)
                    .Bind("$content", SqliteType.Blob, job.Content ?? [])
                    .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Inserts a content row of <paramref name="size"/> zero bytes and fills it from <paramref name="path"/> through
    /// SQLite's incremental blob I/O, <see cref="ContentChunk"/> bytes at a time (one pooled buffer, rented and returned
    /// here), so a file of any allowed size costs one chunk of memory. A file that cannot be read or is not
    /// <paramref name="size"/> bytes long throws <see cref="StoreException"/>, and the caller's transaction rolls back.</summary>
    private static async ValueTask InsertContentFromFileAsync(PreparedCommands commands, SqliteTransaction transaction, string jobId, string path, long size, CancellationToken cancellationToken)
    {
        var rowid = (long)(await commands.Get(JobSql.InsertContentPlaceholder, transaction)
            .Bind("$id", SqliteType.Text, jobId)
            .Bind("$size", SqliteType.Integer, size)
            .ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        if (size == 0)
        {
            return;
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ContentChunk);
        try
        {
            var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
            await using (source.ConfigureAwait(false))
            {
                if (source.Length != size)
                {
                    throw new StoreException($"The content file of job '{jobId}' ({path}) has {source.Length} bytes, not the {size} of the job.");
                }

                using var blob = new SqliteBlob(transaction.Connection!, "job_content", "content", rowid);
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(0, ContentChunk), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    blob.Write(buffer, 0, read);
                }
            }
        }
        catch (IOException e)
        {
            throw new StoreException($"Cannot read the content file of job '{jobId}' ({path}): {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreException($"Cannot read the content file of job '{jobId}' ({path}): {e.Message}", e);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
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
