using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The job statements and how job rows map to columns: times as unix milliseconds (UTC), the
/// timeout as milliseconds, state as its name, blobs as BLOB.</summary>
internal static class JobSql
{
    /// <summary>The job columns in the order <see cref="ReadJob"/> expects them; content, when selected, follows.</summary>
    public const string JobColumns =
        "j.id, j.state, j.priority, j.target, j.file_name, j.file_size, j.sha256, j.args, j.timeout_ms, j.max_retries, " +
        "j.attempt, j.lease_owner, j.lease_expires_at, j.last_agent, j.submitted_at, j.finished_at, j.dead_reason";

    public const string InsertJob =
        """
        INSERT INTO jobs (id, state, priority, target, file_name, file_size, sha256, args, timeout_ms, max_retries,
                          attempt, lease_owner, lease_expires_at, last_agent, submitted_at, finished_at, dead_reason, content_id)
        VALUES ($id, 'queued', $priority, $target, $file_name, $file_size, $sha256, $args, $timeout_ms, $max_retries,
                0, NULL, NULL, NULL, $submitted_at, NULL, NULL, $content_id)
        """;

    /// <summary>A new file's row; returns its id.</summary>
    public const string InsertContent = "INSERT INTO contents (sha256, content) VALUES ($sha256, $content) RETURNING id";

    /// <summary>As <see cref="InsertContent"/> for a file copied in afterwards: the row holds <c>$size</c> zero bytes, to be
    /// filled through incremental blob I/O.</summary>
    public const string InsertContentPlaceholder = "INSERT INTO contents (sha256, content) VALUES ($sha256, zeroblob($size)) RETURNING id";

    /// <summary>A new file's first holder.</summary>
    public const string InsertContentHolder = "INSERT INTO content_holders (content_id, jobs) VALUES ($id, 1)";

    /// <summary>One more holder for the row <c>$id</c> if it holds the file of hash <c>$sha256</c> (the store's memory of
    /// recent files is a hint): one row changed, or none.</summary>
    public const string AddContentHolder =
        "UPDATE content_holders SET jobs = jobs + 1 WHERE content_id = $id AND EXISTS (SELECT 1 FROM contents WHERE id = $id AND sha256 = $sha256)";

    public const string SelectContent = "SELECT c.content FROM jobs j JOIN contents c ON c.id = j.content_id WHERE j.id = $id";

    public const string SelectJob =
        "SELECT " + JobColumns + ", c.content FROM jobs j LEFT JOIN contents c ON c.id = j.content_id WHERE j.id = $id";

    public const string SelectJobWithoutContent = "SELECT " + JobColumns + " FROM jobs j WHERE j.id = $id";

    public const string SelectQueued =
        "SELECT " + JobColumns + ", c.content FROM jobs j LEFT JOIN contents c ON c.id = j.content_id " +
        "WHERE j.state = 'queued' ORDER BY j.priority DESC, j.submitted_at, j.id LIMIT $limit";

    /// <summary>Queued and running, in the order <see cref="SelectQueued"/> uses, without content.</summary>
    public const string SelectActive =
        "SELECT " + JobColumns + " FROM jobs j WHERE j.state IN ('queued', 'running') ORDER BY j.priority DESC, j.submitted_at, j.id";

    public const string CountQueued = "SELECT count(*) FROM jobs WHERE state = 'queued'";

    public const string CountByState = "SELECT state, count(*) FROM jobs GROUP BY state";

    public const string SelectExpired =
        "SELECT " + JobColumns + " FROM jobs j WHERE j.state = 'running' AND j.lease_expires_at <= $now ORDER BY j.lease_expires_at, j.id";

    public const string Lease =
        """
        UPDATE jobs SET state = 'running', attempt = $attempt, lease_owner = $agent, lease_expires_at = $expires_at
        WHERE id = $id AND state = 'queued' AND attempt < $attempt
        """;

    /// <summary>What a result is checked against, in one lookup: the job's state and attempt, the attempt of its
    /// recorded result (NULL when none), and whether the result's attempt already has a history row
    /// (NULL when none; 1 when a result wrote it, 0 when a requeue did).</summary>
    public const string SelectForResult =
        """
        SELECT j.state, j.attempt,
               (SELECT r.attempt FROM job_results r WHERE r.job_id = j.id),
               (SELECT a.from_result FROM job_attempts a WHERE a.job_id = j.id AND a.attempt = $attempt)
        FROM jobs j WHERE j.id = $id
        """;

    public const string UpsertResult =
        """
        INSERT INTO job_results (job_id, attempt, agent_id, outcome, exit_code, duration_ms, stdout_tail, stderr_tail, out_file, error, recorded_at)
        VALUES ($id, $attempt, $agent, $outcome, $exit_code, $duration_ms, $stdout, $stderr, $out_file, $error, $recorded_at)
        ON CONFLICT (job_id) DO UPDATE SET
            attempt = excluded.attempt, agent_id = excluded.agent_id, outcome = excluded.outcome, exit_code = excluded.exit_code,
            duration_ms = excluded.duration_ms, stdout_tail = excluded.stdout_tail, stderr_tail = excluded.stderr_tail,
            out_file = excluded.out_file, error = excluded.error, recorded_at = excluded.recorded_at
        """;

    public const string InsertStale =
        """
        INSERT INTO stale_results (job_id, attempt, agent_id, outcome, exit_code, duration_ms, stdout_tail, stderr_tail, out_file, error, recorded_at)
        VALUES ($id, $attempt, $agent, $outcome, $exit_code, $duration_ms, $stdout, $stderr, $out_file, $error, $recorded_at)
        """;

    public const string InsertAttempt =
        """
        INSERT INTO job_attempts (job_id, attempt, agent_id, outcome, exit_code, error, from_result, recorded_at)
        VALUES ($id, $attempt, $agent, $outcome, $exit_code, $error, $from_result, $recorded_at)
        """;

    public const string MarkDone =
        """
        UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, last_agent = $agent, finished_at = $at
        WHERE id = $id
        """;

    /// <summary>Back to queued, or dead when the attempt was the last allowed (attempt &gt; max_retries).</summary>
    public const string RetryOrDie =
        """
        UPDATE jobs SET
            state = CASE WHEN attempt <= max_retries THEN 'queued' ELSE 'dead' END,
            finished_at = CASE WHEN attempt <= max_retries THEN NULL ELSE $at END,
            dead_reason = CASE WHEN attempt <= max_retries THEN NULL ELSE $reason END,
            last_agent = COALESCE($agent, lease_owner, last_agent),
            lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $id
        """;

    public const string SelectRunningAttempt = "SELECT lease_owner FROM jobs WHERE id = $id AND state = 'running' AND attempt = $attempt";

    public const string Cancel =
        """
        UPDATE jobs SET state = 'cancelled', last_agent = COALESCE(lease_owner, last_agent), lease_owner = NULL,
                        lease_expires_at = NULL, finished_at = $at
        WHERE id = $id AND state IN ('queued', 'running')
        """;

    public const string ExpireQueued =
        """
        UPDATE jobs SET state = 'dead', dead_reason = $reason, finished_at = $at
        WHERE id = $id AND state = 'queued'
        """;

    public const string SelectResult =
        """
        SELECT job_id, attempt, agent_id, outcome, exit_code, duration_ms, stdout_tail, stderr_tail, out_file, error, recorded_at
        FROM job_results WHERE job_id = $id
        """;

    /// <summary><see cref="SelectResult"/> with an empty blob in place of the out file (same columns, so <see cref="ReadResult"/> reads both).</summary>
    public const string SelectResultWithoutOutFile =
        """
        SELECT job_id, attempt, agent_id, outcome, exit_code, duration_ms, stdout_tail, stderr_tail, X'', error, recorded_at
        FROM job_results WHERE job_id = $id
        """;

    /// <summary>The finished jobs a prune takes: final, finished before <c>$before</c>, oldest first, at most
    /// <c>$limit</c>. Its WHERE repeats the partial index <c>jobs_finished</c>'s word for word, and INDEXED BY makes
    /// SQLite use it (without statistics the planner prefers <c>jobs_state_id</c>, which scans every finished job
    /// and sorts them), so the cost follows the rows pruned, not the table. Within one transaction every
    /// statement of a prune selects the same rows.</summary>
    public const string SelectPrunable =
        "SELECT id FROM jobs INDEXED BY jobs_finished WHERE state IN ('done', 'dead', 'cancelled') AND finished_at < $before " +
        "ORDER BY finished_at LIMIT $limit";

    /// <summary>A prune: the rows that belong to the jobs first, the jobs last (they select the set). A file goes with the
    /// last job that holds it. The count of the last statement is the number of jobs pruned.</summary>
    public static readonly string[] Prune =
    [
        "WITH pruned AS (SELECT content_id, count(*) AS n FROM jobs WHERE id IN (" + SelectPrunable + ") GROUP BY content_id) " +
        "UPDATE content_holders SET jobs = jobs - (SELECT n FROM pruned WHERE pruned.content_id = content_holders.content_id) " +
        "WHERE content_id IN (SELECT content_id FROM pruned)",
        "DELETE FROM contents WHERE id IN (SELECT content_id FROM jobs WHERE id IN (" + SelectPrunable + ")) " +
        "AND (SELECT jobs FROM content_holders WHERE content_id = contents.id) <= 0",
        "DELETE FROM content_holders WHERE content_id IN (SELECT content_id FROM jobs WHERE id IN (" + SelectPrunable + ")) AND jobs <= 0",
        "DELETE FROM job_results WHERE job_id IN (" + SelectPrunable + ")",
        "DELETE FROM job_attempts WHERE job_id IN (" + SelectPrunable + ")",
        "DELETE FROM stale_results WHERE job_id IN (" + SelectPrunable + ")",
        "DELETE FROM jobs WHERE id IN (" + SelectPrunable + ")",
    ];

    public static long ToColumn(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static DateTimeOffset TimeFromColumn(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    /// <summary>Reads one row selected with <see cref="JobColumns"/>, and the content after them when <paramref name="withContent"/>.</summary>
    public static JobRecord ReadJob(SqliteDataReader reader, bool withContent) => new()
    {
        Id = reader.GetString(0),
        State = reader.GetString(1),
        Priority = reader.GetInt32(2),
        Target = reader.GetString(3),
        FileName = reader.GetString(4),
        FileSize = reader.GetInt64(5),
        Sha256 = Blob(reader, 6),
        Args = reader.GetString(7),
        Timeout = TimeSpan.FromMilliseconds(reader.GetInt64(8)),
        MaxRetries = reader.GetInt32(9),
        Attempt = reader.GetInt32(10),
        LeaseOwner = reader.IsDBNull(11) ? null : reader.GetString(11),
        LeaseExpiresAt = reader.IsDBNull(12) ? null : TimeFromColumn(reader.GetInt64(12)),
        LastAgent = reader.IsDBNull(13) ? null : reader.GetString(13),
        SubmittedAt = TimeFromColumn(reader.GetInt64(14)),
        FinishedAt = reader.IsDBNull(15) ? null : TimeFromColumn(reader.GetInt64(15)),
        DeadReason = reader.IsDBNull(16) ? null : reader.GetString(16),
        Content = withContent ? Blob(reader, 17) : [],
    };

    /// <summary>Reads one row selected with <see cref="SelectResult"/>.</summary>
    public static JobResultRecord ReadResult(SqliteDataReader reader) => new()
    {
        JobId = reader.GetString(0),
        Attempt = reader.GetInt32(1),
        AgentId = reader.GetString(2),
        Outcome = reader.GetString(3),
        ExitCode = reader.IsDBNull(4) ? null : reader.GetInt32(4),
        DurationMs = reader.GetInt64(5),
        StdoutTail = Blob(reader, 6),
        StderrTail = Blob(reader, 7),
        OutFile = Blob(reader, 8),
        Error = reader.GetString(9),
        RecordedAt = TimeFromColumn(reader.GetInt64(10)),
    };

    /// <summary>Binds the result columns of <see cref="UpsertResult"/> or <see cref="InsertStale"/>.</summary>
    public static SqliteCommand BindResult(SqliteCommand command, JobResultRecord result) => command
        .Bind("$id", SqliteType.Text, result.JobId)
        .Bind("$attempt", SqliteType.Integer, result.Attempt)
        .Bind("$agent", SqliteType.Text, result.AgentId ?? string.Empty)
        .Bind("$outcome", SqliteType.Text, result.Outcome ?? string.Empty)
        .Bind("$exit_code", SqliteType.Integer, result.ExitCode)
        .Bind("$duration_ms", SqliteType.Integer, result.DurationMs)
        .Bind("$stdout", SqliteType.Blob, result.StdoutTail ?? [])
        .Bind("$stderr", SqliteType.Blob, result.StderrTail ?? [])
        .Bind("$out_file", SqliteType.Blob, result.OutFile ?? [])
        .Bind("$error", SqliteType.Text, result.Error ?? string.Empty)
        .Bind("$recorded_at", SqliteType.Integer, ToColumn(result.RecordedAt));

    public static byte[] Blob(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? [] : (byte[])reader.GetValue(ordinal);
}
