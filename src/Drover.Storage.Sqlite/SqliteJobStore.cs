using System.Globalization;
using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>The embedded default job store: the job tables of the same SQLite file as
/// <see cref="SqliteFleetStore"/> (or a file of its own), reached through connections of its own.</summary>
/// <remarks>
/// <para>File sharing and schema version: the file has one schema and one <c>PRAGMA user_version</c>
/// (see <c>Internal/Schema.cs</c>); the job tables are migration 1 → 2. Both stores run the same
/// migrations, so whichever opens the file first creates or migrates all of it, and each refuses a file
/// whose version is newer than the code. Two stores on one file are two writers: their transactions
/// take turns on SQLite's file lock, waiting up to <see cref="SqliteStoreOptions.BusyTimeout"/>.</para>
/// <para>Writes are serialized on one dedicated write connection (guarded by a semaphore) whose statements
/// are prepared once and reused; every write method is one <c>BEGIN IMMEDIATE</c> transaction, so a state
/// change and the checks it depends on are atomic. Reads use pooled connections and see the last
/// committed state.</para>
/// <para>Durability: WAL with <c>synchronous=NORMAL</c>. A committed write survives a crash of the
/// process; a power loss or operating-system crash may drop the last few committed transactions (the
/// database stays consistent).</para>
/// <para>Representation: times as unix milliseconds (read back in UTC, sub-millisecond precision dropped);
/// the timeout as milliseconds; content in its own table (<c>job_content</c>) so that state changes do
/// not rewrite it; results one row per job (<c>job_results</c>), failed and abandoned attempts in
/// <c>job_attempts</c>, results for attempts that are no longer current in <c>stale_results</c>.</para>
/// <para>Errors: SQLite failures surface as <see cref="StoreException"/> naming the file and the cause;
/// a failed write is rolled back in full.</para>
/// </remarks>
public sealed class SqliteJobStore : IJobStore
{
    private readonly TimeProvider _time;

    /// <summary>Held by whoever uses <see cref="_writer"/> and <see cref="_commands"/>.</summary>
    private readonly StoreFile _file;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private PreparedCommands? _commands;
    private volatile bool _initialized;
    private volatile bool _disposed;

    public SqliteJobStore(SqliteStoreOptions options)
        : this(options, TimeProvider.System)
    {
    }

    /// <summary>With the clock that stamps <see cref="JobRecord.FinishedAt"/> of cancelled jobs.</summary>
    public SqliteJobStore(SqliteStoreOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _file = new StoreFile(options);
        _time = timeProvider;
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _file.Path;

    /// <inheritdoc/>
    /// <remarks>Creates the parent directory and the file, switches it to WAL mode and creates or migrates
    /// the whole schema. Throws <see cref="StoreException"/> for a foreign, newer or unreadable file.</remarks>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _file.CreateDirectory();
            _writer ??= await _file.OpenWriterAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await StoreSchema.MigrateAsync(_writer, _file.Path, cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                throw StoreErrors.Open(_file.Path, e);
            }

            _commands ??= new PreparedCommands(_writer, _file.TimeoutSeconds);
            _initialized = true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc/>
    /// <remarks>Inserts are prepared once and reused for every job. Throws <see cref="ArgumentException"/>
    /// before writing anything when a job is not a new queued job or its content is over
    /// <see cref="JobRecord.MaxContentBytes"/>.</remarks>
    public Task SubmitAsync(IReadOnlyList<JobRecord> jobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfNotReady();
        for (int i = 0; i < jobs.Count; i++)
        {
            Validate(jobs[i]);
        }

        if (jobs.Count == 0)
        {
            return Task.CompletedTask;
        }

        return InWriteTransactionAsync(
            async (commands, transaction, ct) =>
            {
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
                        .ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    await content
                        .Bind("$id", SqliteType.Text, job.Id)
                        .Bind("$content", SqliteType.Blob, job.Content ?? [])
                        .ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return 0;
            },
            $"the submission of {jobs.Count} jobs",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> CountQueuedAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.CountQueued;
                return Convert.ToInt32(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            },
            cancellationToken);

    /// <inheritdoc/>
    public Task<JobRecord?> GetJobAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectJob;
                command.Bind("$id", SqliteType.Text, id);
                IReadOnlyList<JobRecord> jobs = await ReadJobsAsync(command, withContent: true, ct).ConfigureAwait(false);
                return jobs.Count == 0 ? null : jobs[0];
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Ids compare by SQLite's binary (ordinal UTF-8) collation. <paramref name="limit"/> 0
    /// returns an empty list; a negative one is rejected.</remarks>
    public Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? state, string? agent, int limit, string? afterId, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return ReadAsync(
            (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                var sql = new System.Text.StringBuilder("SELECT " + JobSql.JobColumns + " FROM jobs j WHERE 1 = 1");
                if (state is not null)
                {
                    sql.Append(" AND j.state = $state");
                    command.Bind("$state", SqliteType.Text, state);
                }

                if (agent is not null)
                {
                    sql.Append(" AND (j.lease_owner = $agent OR j.last_agent = $agent)");
                    command.Bind("$agent", SqliteType.Text, agent);
                }

                if (afterId is not null)
                {
                    sql.Append(" AND j.id > $after");
                    command.Bind("$after", SqliteType.Text, afterId);
                }

                sql.Append(" ORDER BY j.id LIMIT $limit");
                command.Bind("$limit", SqliteType.Integer, limit);
                command.CommandText = sql.ToString();
                return ReadJobsAsync(command, withContent: false, ct);
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<JobRecord>> LoadQueuedAsync(int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return ReadAsync(
            (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectQueued;
                command.Bind("$limit", SqliteType.Integer, limit);
                return ReadJobsAsync(command, withContent: true, ct);
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<JobRecord>> ExpiredLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        ReadAsync(
            (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectExpired;
                command.Bind("$now", SqliteType.Integer, JobSql.ToColumn(now));
                return ReadJobsAsync(command, withContent: false, ct);
            },
            cancellationToken);

    /// <inheritdoc/>
    public Task<JobResultRecord?> GetResultAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectResult;
                command.Bind("$id", SqliteType.Text, jobId);
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    return await reader.ReadAsync(ct).ConfigureAwait(false) ? JobSql.ReadResult(reader) : null;
                }
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> LeaseAsync(string jobId, string agentId, int attempt, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentException.ThrowIfNullOrEmpty(agentId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attempt);
        ThrowIfNotReady();
        return InWriteTransactionAsync(
            async (commands, transaction, ct) => await commands.Get(JobSql.Lease, transaction)
                .Bind("$id", SqliteType.Text, jobId)
                .Bind("$agent", SqliteType.Text, agentId)
                .Bind("$attempt", SqliteType.Integer, attempt)
                .Bind("$expires_at", SqliteType.Integer, JobSql.ToColumn(expiresAt))
                .ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1,
            $"the lease of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<ResultRecording> RecordResultAsync(JobResultRecord result, bool success, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(result.JobId);
        ThrowIfNotReady();
        return InWriteTransactionAsync(
            async (commands, transaction, ct) =>
            {
                string? state = null;
                int attempt = 0;
                SqliteCommand select = commands.Get(JobSql.SelectForResult, transaction).Bind("$id", SqliteType.Text, result.JobId);
                SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        state = reader.GetString(0);
                        attempt = reader.GetInt32(1);
                    }
                }

                if (state is null)
                {
                    return ResultRecording.UnknownJob;
                }

                object? resultAttempt = await commands.Get(JobSql.ResultAttempt, transaction)
                    .Bind("$id", SqliteType.Text, result.JobId)
                    .ExecuteScalarAsync(ct).ConfigureAwait(false);
                object? history = await commands.Get(JobSql.AttemptHistory, transaction)
                    .Bind("$id", SqliteType.Text, result.JobId)
                    .Bind("$attempt", SqliteType.Integer, result.Attempt)
                    .ExecuteScalarAsync(ct).ConfigureAwait(false);
                if ((resultAttempt is long recorded && recorded == result.Attempt) || (history is long fromResult && fromResult == 1))
                {
                    return ResultRecording.Duplicate;
                }

                // Not the current attempt, or the current one already given up by a requeue.
                if (result.Attempt != attempt || history is not null)
                {
                    await JobSql.BindResult(commands.Get(JobSql.InsertStale, transaction), result).ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    return ResultRecording.StaleAttempt;
                }

                if (state != JobStates.Running)
                {
                    return ResultRecording.NotRunning;
                }

                await JobSql.BindResult(commands.Get(JobSql.UpsertResult, transaction), result).ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                if (success)
                {
                    await commands.Get(JobSql.MarkDone, transaction)
                        .Bind("$id", SqliteType.Text, result.JobId)
                        .Bind("$agent", SqliteType.Text, result.AgentId ?? string.Empty)
                        .Bind("$at", SqliteType.Integer, JobSql.ToColumn(result.RecordedAt))
                        .ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                else
                {
                    await InsertAttemptAsync(commands, transaction, result.JobId, result.Attempt, result.AgentId, result.Outcome ?? string.Empty, result.ExitCode, result.Error ?? string.Empty, fromResult: true, result.RecordedAt, ct).ConfigureAwait(false);
                    string reason = string.IsNullOrEmpty(result.Error) ? result.Outcome ?? string.Empty : result.Error;
                    await RetryOrDieAsync(commands, transaction, result.JobId, result.AgentId, reason, result.RecordedAt, ct).ConfigureAwait(false);
                }

                return ResultRecording.Recorded;
            },
            $"the result of job '{result.JobId}' attempt {result.Attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>The attempt history row has outcome <paramref name="reason"/> and the lease owner as its agent.</remarks>
    public Task<int> RequeueAsync(string jobId, int attempt, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentNullException.ThrowIfNull(reason);
        ThrowIfNotReady();
        return InWriteTransactionAsync(
            async (commands, transaction, ct) =>
            {
                string? owner = null;
                bool running = false;
                SqliteCommand select = commands.Get(JobSql.SelectRunningAttempt, transaction)
                    .Bind("$id", SqliteType.Text, jobId)
                    .Bind("$attempt", SqliteType.Integer, attempt);
                SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        running = true;
                        owner = reader.IsDBNull(0) ? null : reader.GetString(0);
                    }
                }

                if (!running)
                {
                    return 0;
                }

                DateTimeOffset now = _time.GetUtcNow();
                await InsertAttemptAsync(commands, transaction, jobId, attempt, owner, reason, null, reason, fromResult: false, now, ct).ConfigureAwait(false);
                await RetryOrDieAsync(commands, transaction, jobId, owner, reason, now, ct).ConfigureAwait(false);
                return 1;
            },
            $"the requeue of job '{jobId}' attempt {attempt}",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> CancelAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ThrowIfNotReady();
        return InWriteTransactionAsync(
            async (commands, transaction, ct) => await commands.Get(JobSql.Cancel, transaction)
                .Bind("$id", SqliteType.Text, jobId)
                .Bind("$at", SqliteType.Integer, JobSql.ToColumn(_time.GetUtcNow()))
                .ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1,
            $"the cancellation of job '{jobId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<JobBatchOutcome> ApplyAsync(JobBatch batch, CancellationToken cancellationToken) => throw new NotImplementedException("jobs: store helper implements this");

    /// <inheritdoc/>
    public Task<IReadOnlyList<JobRecord>> LoadActiveAsync(CancellationToken cancellationToken) => throw new NotImplementedException("jobs: store helper implements this");

    /// <inheritdoc/>
    public Task<bool> ExpireQueuedAsync(string jobId, string reason, CancellationToken cancellationToken) => throw new NotImplementedException("jobs: store helper implements this");

    /// <inheritdoc/>
    public Task<IReadOnlyDictionary<string, int>> CountByStateAsync(CancellationToken cancellationToken) => throw new NotImplementedException("jobs: store helper implements this");

    /// <summary>Waits for a write in progress, then closes every connection of this store.</summary>
    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _initialized = false;
            _file.ClearReadPool();

            DropWriter();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Test hook: the value of a pragma on the write connection (for example "synchronous").</summary>
    internal async Task<object?> WriterPragmaAsync(string pragma, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            _writer ??= await _file.OpenWriterAsync(cancellationToken).ConfigureAwait(false);
            return await StoreSchema.ScalarAsync(_writer, "PRAGMA " + pragma + ";", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
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

    private static async Task<IReadOnlyList<JobRecord>> ReadJobsAsync(SqliteCommand command, bool withContent, CancellationToken cancellationToken)
    {
        var jobs = new List<JobRecord>();
        SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                jobs.Add(JobSql.ReadJob(reader, withContent));
            }
        }

        return jobs;
    }

    /// <summary>Runs <paramref name="work"/> under the write lock in one transaction on the write
    /// connection, committing when it returns and rolling back when anything throws.</summary>
    private async Task<T> InWriteTransactionAsync<T>(
        Func<PreparedCommands, SqliteTransaction, CancellationToken, Task<T>> work,
        string what,
        CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            _writer ??= await _file.OpenWriterAsync(cancellationToken).ConfigureAwait(false);
            _commands ??= new PreparedCommands(_writer, _file.TimeoutSeconds);
            PreparedCommands commands = _commands;

            SqliteTransaction transaction;
            try
            {
                transaction = _writer.BeginTransaction();
            }
            catch (SqliteException e)
            {
                DropWriter();
                throw StoreErrors.Write(_file.Path, e, what);
            }

            try
            {
                T result = await work(commands, transaction, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                transaction.Dispose();
                return result;
            }
            catch (SqliteException e)
            {
                Abort(transaction);
                throw StoreErrors.Write(_file.Path, e, what);
            }
            catch
            {
                Abort(transaction);
                throw;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Rolls back; if that fails the connection's state is unknown, so it is dropped.</summary>
    private void Abort(SqliteTransaction transaction)
    {
        try
        {
            transaction.Rollback();
            transaction.Dispose();
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            DropWriter();
        }
    }

    /// <summary>Closes the write connection; the next write opens a fresh one. Caller holds the write lock.</summary>
    private void DropWriter()
    {
        _commands?.Dispose();
        _commands = null;
        _writer?.Dispose();
        _writer = null;
    }
    /// <summary>Runs <paramref name="work"/> on a pooled read connection; see <see cref="StoreFile.ReadAsync"/>.</summary>
    private Task<T> ReadAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return _file.ReadAsync(work, cancellationToken);
    }

    private void ThrowIfNotReady()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_initialized)
        {
            throw new InvalidOperationException($"The store '{_file.Path}' is not initialized: call InitializeAsync first.");
        }
    }
}
