using System.Security.Cryptography;
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

    /// <summary>Stores new jobs and their files: a file already stored lately (<paramref name="recent"/>) is shared, any
    /// other gets a row of its own.</summary>
    public static async ValueTask ApplySubmissionsAsync(PreparedCommands commands, SqliteTransaction transaction, IReadOnlyList<JobRecord> jobs, RecentContents recent, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        SqliteCommand insert = commands.Get(JobSql.InsertJob, transaction);
        for (int i = 0; i < jobs.Count; i++)
        {
            JobRecord job = jobs[i];
            long contentId = await StoreContentAsync(commands, transaction, recent, job, cancellationToken).ConfigureAwait(false);
            await insert
                .Bind("$id", SqliteType.Text, job.Id)
                .Bind("$priority", SqliteType.Integer, job.Priority)
                .Bind("$target", SqliteType.Text, job.Target ?? string.Empty)
                .Bind("$file_name", SqliteType.Text, job.FileName ?? string.Empty)
                .Bind("$file_size", SqliteType.Integer, job.FileSize)
                .Bind("$sha256", SqliteType.Blob, job.Sha256)
                .Bind("$args", SqliteType.Text, job.Args ?? string.Empty)
                .Bind("$timeout_ms", SqliteType.Integer, (long)job.Timeout.TotalMilliseconds)
                .Bind("$max_retries", SqliteType.Integer, job.MaxRetries)
                .Bind("$submitted_at", SqliteType.Integer, JobSql.ToColumn(job.SubmittedAt))
                .Bind("$content_id", SqliteType.Integer, contentId)
                .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The row of <paramref name="job"/>'s file: the row that stored it lately, if it still holds it (then counted as
    /// held by one more job), else a new row with one holder, remembered in <paramref name="recent"/>. A file in memory was
    /// checked against its hash by <see cref="JobValidation"/>; a content file is checked here as it is read, also when it
    /// is already stored.</summary>
    private static async ValueTask<long> StoreContentAsync(PreparedCommands commands, SqliteTransaction transaction, RecentContents recent, JobRecord job, CancellationToken cancellationToken)
    {
        var key = Sha256Key.Of(job.Sha256);
        if (recent.TryFind(key, out var known) && await commands.Get(JobSql.AddContentHolder, transaction)
                .Bind("$id", SqliteType.Integer, known)
                .Bind("$sha256", SqliteType.Blob, job.Sha256)
                .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
        {
            if (job.ContentFile is { } stored)
            {
                await CopyContentFileAsync(transaction, job, stored, intoRow: null, cancellationToken).ConfigureAwait(false);
            }

            return known;
        }

        long id;
        if (job.ContentFile is { } file)
        {
            id = (long)(await commands.Get(JobSql.InsertContentPlaceholder, transaction)
                .Bind("$sha256", SqliteType.Blob, job.Sha256)
                .Bind("$size", SqliteType.Integer, job.FileSize)
                .ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            await CopyContentFileAsync(transaction, job, file, intoRow: id, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            id = (long)(await commands.Get(JobSql.InsertContent, transaction)
                .Bind("$sha256", SqliteType.Blob, job.Sha256)
                .Bind("$content", SqliteType.Blob, job.Content ?? [])
                .ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        await commands.Get(JobSql.InsertContentHolder, transaction)
            .Bind("$id", SqliteType.Integer, id)
            .ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        recent.Remember(key, id);
        return id;
    }

    /// <summary>Reads the file at <paramref name="path"/>, <paramref name="job"/>'s content, and hashes it; with
    /// <paramref name="intoRow"/>, copies it into that <c>contents</c> row (of <see cref="JobRecord.FileSize"/> zero bytes)
    /// through SQLite's incremental blob I/O, <see cref="ContentChunk"/> bytes at a time (one pooled buffer), so a file of any
    /// allowed size costs one chunk of memory. A file that cannot be read, is not <see cref="JobRecord.FileSize"/> bytes long
    /// or does not hash to <see cref="JobRecord.Sha256"/> throws <see cref="StoreException"/>, and the caller's transaction
    /// rolls back.</summary>
    private static async ValueTask CopyContentFileAsync(SqliteTransaction transaction, JobRecord job, string path, long? intoRow, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ContentChunk);
        try
        {
            var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
            await using (source.ConfigureAwait(false))
            {
                if (source.Length != job.FileSize)
                {
                    throw new StoreException($"The content file of job '{job.Id}' ({path}) has {source.Length} bytes, not the {job.FileSize} of the job.");
                }

                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                using SqliteBlob? blob = intoRow is { } row && job.FileSize > 0 ? new SqliteBlob(transaction.Connection!, "contents", "content", row) : null;
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(0, ContentChunk), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    blob?.Write(buffer, 0, read);
                }

                if (!hash.GetHashAndReset().AsSpan().SequenceEqual(job.Sha256))
                {
                    throw new StoreException($"The content file of job '{job.Id}' ({path}) does not hash to the job's SHA-256.");
                }
            }
        }
        catch (IOException e)
        {
            throw new StoreException($"Cannot read the content file of job '{job.Id}' ({path}): {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreException($"Cannot read the content file of job '{job.Id}' ({path}): {e.Message}", e);
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
