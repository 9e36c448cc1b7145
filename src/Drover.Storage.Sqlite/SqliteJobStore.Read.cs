using System.Globalization;
using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

public sealed partial class SqliteJobStore
{
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
    public Task<JobRecord?> GetJobAsync(string id, bool withContent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = withContent ? JobSql.SelectJob : JobSql.SelectJobWithoutContent;
                command.Bind("$id", SqliteType.Text, id);
                IReadOnlyList<JobRecord> jobs = await ReadJobsAsync(command, withContent, ct).ConfigureAwait(false);
                return jobs.Count == 0 ? null : jobs[0];
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Ids compare by SQLite's binary (ordinal UTF-8) collation. <paramref name="limit"/> 0
    /// returns an empty list; a negative one is rejected.</remarks>
    public Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? state, string? agent, int limit, string? afterId, CancellationToken cancellationToken) =>
        ListJobsAsync(state, agent, null, limit, afterId, newestFirst: false, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? state, string? agent, DateTimeOffset? submittedSince, int limit, string? afterId, bool newestFirst, CancellationToken cancellationToken)
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

                if (submittedSince is { } since)
                {
                    sql.Append(" AND j.submitted_at >= $since");
                    command.Bind("$since", SqliteType.Integer, since.ToUnixTimeMilliseconds());
                }

                if (afterId is not null)
                {
                    sql.Append(newestFirst ? " AND j.id < $after" : " AND j.id > $after");
                    command.Bind("$after", SqliteType.Text, afterId);
                }

                sql.Append(newestFirst ? " ORDER BY j.id DESC LIMIT $limit" : " ORDER BY j.id LIMIT $limit");
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
    public Task<JobResultRecord?> GetResultAsync(string jobId, bool withOutFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = withOutFile ? JobSql.SelectResult : JobSql.SelectResultWithoutOutFile;
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
    /// <remarks>Highest priority first, then oldest submitted, then by id (as <see cref="LoadQueuedAsync"/>),
    /// queued and running mixed.</remarks>
    public Task<IReadOnlyList<JobRecord>> LoadActiveAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectActive;
                return ReadJobsAsync(command, withContent: false, ct);
            },
            cancellationToken);

    /// <inheritdoc/>
    /// <remarks>One pooled read connection and one prepared statement, run once per id (an empty list reads nothing).</remarks>
    public Task<IReadOnlyList<byte[]?>> LoadContentAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobIds);
        if (jobIds.Count == 0)
        {
            ThrowIfNotReady();
            return Task.FromResult<IReadOnlyList<byte[]?>>([]);
        }

        return ReadAsync<IReadOnlyList<byte[]?>>(
            async (connection, ct) =>
            {
                var contents = new byte[]?[jobIds.Count];
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.SelectContent;
                SqliteParameter id = command.Parameters.Add("$id", SqliteType.Text);
                command.Prepare();
                for (int i = 0; i < contents.Length; i++)
                {
                    id.Value = jobIds[i] ?? throw new ArgumentException($"Job id {i} is null.", nameof(jobIds));
                    SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        contents[i] = await reader.ReadAsync(ct).ConfigureAwait(false) ? JobSql.Blob(reader, 0) : null;
                    }
                }

                return contents;
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>One <c>GROUP BY</c> query.</remarks>
    public Task<IReadOnlyDictionary<string, int>> CountByStateAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyDictionary<string, int>>(
            async (connection, ct) =>
            {
                var counts = new Dictionary<string, int>(StringComparer.Ordinal)
                {
                    [JobStates.Queued] = 0,
                    [JobStates.Running] = 0,
                    [JobStates.Done] = 0,
                    [JobStates.Dead] = 0,
                    [JobStates.Cancelled] = 0,
                };
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = JobSql.CountByState;
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        counts[reader.GetString(0)] = reader.GetInt32(1);
                    }
                }

                return counts;
            },
            cancellationToken);

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

    /// <summary>Runs <paramref name="work"/> on a pooled read connection; see <see cref="StoreFile.ReadAsync"/>.</summary>
    private Task<T> ReadAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return _file.ReadAsync(work, cancellationToken);
    }
}
