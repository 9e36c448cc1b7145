namespace Drover.Storage.Sqlite.Internal;

/// <summary>The schema, versioned with <c>PRAGMA user_version</c>. Migration i takes the store from
/// version i to version i + 1; never edit a shipped migration, append a new one.</summary>
/// <remarks>One schema and one version for the whole file: <see cref="SqliteFleetStore"/> and
/// <see cref="SqliteJobStore"/> (and <see cref="SqliteAccessStore"/>) run the same migrations, so either may open (create or migrate) the file
/// first and each finds the other's tables in place.</remarks>
internal static class Schema
{
    public static readonly string[] Migrations =
    [
        // 0 -> 1: agents and their status history.
        """
        CREATE TABLE agents (
            id                     TEXT    NOT NULL PRIMARY KEY,
            labels                 TEXT    NOT NULL DEFAULT '{}',
            address                TEXT    NOT NULL DEFAULT '',
            version                TEXT    NOT NULL DEFAULT '',
            hub_node               TEXT    NOT NULL DEFAULT '',
            first_seen             INTEGER NOT NULL,
            last_seen              INTEGER NOT NULL,
            presence               TEXT    NOT NULL,
            session_epoch          INTEGER NOT NULL,
            slot_ordinal           INTEGER NOT NULL,
            last_disconnect_reason TEXT    NULL,
            status_seq             INTEGER NULL,
            status_state           TEXT    NULL,
            status_progress        INTEGER NULL,
            status_fields          TEXT    NULL,
            status_at              INTEGER NULL
        );
        CREATE TABLE status_history (
            id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            agent_id    TEXT    NOT NULL,
            seq         INTEGER NOT NULL,
            state       TEXT    NOT NULL,
            progress    INTEGER NULL,
            fields      TEXT    NOT NULL,
            received_at INTEGER NOT NULL
        );
        CREATE INDEX status_history_agent_id ON status_history (agent_id, id);
        """,

        // 1 -> 2: jobs (SqliteJobStore). The content lives in its own table so that state changes do
        // not rewrite it; results keep one row per job; attempts and stale results are history.
        """
        CREATE TABLE jobs (
            id               TEXT    NOT NULL PRIMARY KEY,
            state            TEXT    NOT NULL,
            priority         INTEGER NOT NULL,
            target           TEXT    NOT NULL,
            file_name        TEXT    NOT NULL,
            file_size        INTEGER NOT NULL,
            sha256           BLOB    NOT NULL,
            args             TEXT    NOT NULL,
            timeout_ms       INTEGER NOT NULL,
            max_retries      INTEGER NOT NULL,
            attempt          INTEGER NOT NULL,
            lease_owner      TEXT    NULL,
            lease_expires_at INTEGER NULL,
            last_agent       TEXT    NULL,
            submitted_at     INTEGER NOT NULL,
            finished_at      INTEGER NULL,
            dead_reason      TEXT    NULL
        );
        CREATE INDEX jobs_queued ON jobs (priority DESC, submitted_at, id) WHERE state = 'queued';
        CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
        CREATE INDEX jobs_state_id ON jobs (state, id);
        CREATE TABLE job_content (
            job_id  TEXT NOT NULL PRIMARY KEY,
            content BLOB NOT NULL
        );
        CREATE TABLE job_results (
            job_id      TEXT    NOT NULL PRIMARY KEY,
            attempt     INTEGER NOT NULL,
            agent_id    TEXT    NOT NULL,
            outcome     TEXT    NOT NULL,
            exit_code   INTEGER NULL,
            duration_ms INTEGER NOT NULL,
            stdout_tail BLOB    NOT NULL,
            stderr_tail BLOB    NOT NULL,
            out_file    BLOB    NOT NULL,
            error       TEXT    NOT NULL,
            recorded_at INTEGER NOT NULL
        );
        CREATE TABLE job_attempts (
            job_id      TEXT    NOT NULL,
            attempt     INTEGER NOT NULL,
            agent_id    TEXT    NULL,
            outcome     TEXT    NOT NULL,
            exit_code   INTEGER NULL,
            error       TEXT    NOT NULL,
            from_result INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,
            PRIMARY KEY (job_id, attempt)
        );
        CREATE TABLE stale_results (
            id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            job_id      TEXT    NOT NULL,
            attempt     INTEGER NOT NULL,
            agent_id    TEXT    NOT NULL,
            outcome     TEXT    NOT NULL,
            exit_code   INTEGER NULL,
            duration_ms INTEGER NOT NULL,
            stdout_tail BLOB    NOT NULL,
            stderr_tail BLOB    NOT NULL,
            out_file    BLOB    NOT NULL,
            error       TEXT    NOT NULL,
            recorded_at INTEGER NOT NULL
        );
        CREATE INDEX stale_results_job_id ON stale_results (job_id);
        """,

        // 2 -> 3: retention (SqliteJobStore.PruneFinishedAsync) finds finished jobs by when they finished.
        // Partial: queued and running jobs (finished_at NULL) are not in it, so it costs one small index
        // entry per job when it becomes final.
        """
        CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'dead', 'cancelled');
        """,

        // 3 -> 4: access (SqliteAccessStore): tokens, of which only a hash of the secret is kept, the agent keys agent ids
        // are bound to (a hash too), and the audit log.
        """
        CREATE TABLE tokens (
            id          TEXT    NOT NULL PRIMARY KEY,
            kind        TEXT    NOT NULL,
            scope       TEXT    NOT NULL,
            name        TEXT    NOT NULL,
            secret_hash BLOB    NOT NULL,
            created_at  INTEGER NOT NULL,
            created_by  TEXT    NOT NULL,
            expires_at  INTEGER NULL,
            revoked_at  INTEGER NULL
        );
        CREATE TABLE agent_keys (
            agent_id   TEXT    NOT NULL PRIMARY KEY,
            key_hash   BLOB    NOT NULL,
            bound_at   INTEGER NOT NULL,
            bound_from TEXT    NOT NULL
        );
        CREATE TABLE audit_log (
            id     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            at     INTEGER NOT NULL,
            actor  TEXT    NOT NULL,
            source TEXT    NOT NULL,
            action TEXT    NOT NULL,
            target TEXT    NOT NULL,
            detail TEXT    NOT NULL
        );
        """,

        // 4 -> 5: enrollment. Join tokens (kind 'join') have a count of uses left (NULL: unlimited), the labels they give
        // the agents they enroll, and their approval policy ('auto' or 'hold'); an agent key binding has a state
        // (pending, approved, rejected, revoked), the join token that enrolled it, that token's labels, and when the key
        // stops working (NULL: never; keys rotate, bound_at is when the current key was bound). Existing
        // bindings were made by agents the hub let in: approved.
        """
        ALTER TABLE tokens ADD COLUMN uses_left INTEGER NULL;
        ALTER TABLE tokens ADD COLUMN labels TEXT NULL;
        ALTER TABLE tokens ADD COLUMN approval TEXT NULL;
        ALTER TABLE agent_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'approved';
        ALTER TABLE agent_keys ADD COLUMN token_id TEXT NULL;
        ALTER TABLE agent_keys ADD COLUMN labels TEXT NULL;
        ALTER TABLE agent_keys ADD COLUMN changed_at INTEGER NULL;
        ALTER TABLE agent_keys ADD COLUMN expires_at INTEGER NULL;
        """,

        // 5 -> 6: agent events (sessions opened and closed, presence changes, credential decisions, id flaps), written with
        // the status batches, pruned by age; history is pruned and downsampled by age, found through received_at.
        """
        CREATE TABLE agent_events (
            id       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT    NOT NULL,
            at       INTEGER NOT NULL,
            kind     TEXT    NOT NULL,
            reason   TEXT    NULL,
            detail   TEXT    NOT NULL
        );
        CREATE INDEX agent_events_agent_id ON agent_events (agent_id, id);
        CREATE INDEX agent_events_at ON agent_events (at);
        CREATE INDEX status_history_received_at ON status_history (received_at);
        """,

        // 6 -> 7: a job's file in a row of its own that jobs with the same file share, and how many jobs hold each (in a table
        // of small rows: a change to a contents row would rewrite its file). SqliteJobStore finds a file it stored lately by
        // its hash in memory, not through an index: the keys of an index on the hash are random, so it would rewrite a page of
        // itself for nearly every new file. A prune deletes a file with the last job that holds it. Every stored job's file
        // moves over as it was (one row per job).
        """
        CREATE TABLE contents (
            id      INTEGER NOT NULL PRIMARY KEY,
            sha256  BLOB    NOT NULL,
            content BLOB    NOT NULL
        );
        CREATE TABLE content_holders (
            content_id INTEGER NOT NULL PRIMARY KEY,
            jobs       INTEGER NOT NULL
        );
        ALTER TABLE jobs ADD COLUMN content_id INTEGER NULL;
        INSERT INTO contents (id, sha256, content) SELECT c.rowid, j.sha256, c.content FROM job_content c JOIN jobs j ON j.id = c.job_id;
        INSERT INTO content_holders (content_id, jobs) SELECT id, 1 FROM contents;
        UPDATE jobs SET content_id = (SELECT c.rowid FROM job_content c WHERE c.job_id = jobs.id);
        DROP TABLE job_content;
        """,
    ];

    /// <summary>The version this code writes and reads.</summary>
    public static long CurrentVersion => Migrations.Length;

    /// <summary>The agent columns in the order <see cref="AgentRows.Read"/> expects them.</summary>
    public const string AgentColumns =
        "id, labels, address, version, hub_node, first_seen, last_seen, presence, session_epoch, slot_ordinal, " +
        "last_disconnect_reason, status_seq, status_state, status_progress, status_fields, status_at";

    /// <summary>Inserts or updates one agent. A new agent's row gets the rowid <c>$slot_key</c> (<see cref="SlotOrder.Key"/>
    /// of its slot ordinal) unless another row has it (then SQLite picks one), so that rows sit in the order agents report
    /// in: a flush writes the agents that reported in the last second, and with their rows side by side it rewrites a few
    /// pages of the table rather than most of them (measured in docs/benchmarks.md, "Issue 12").</summary>
    public const string UpsertAgent =
        """
        INSERT INTO agents (rowid, id, labels, address, version, hub_node, first_seen, last_seen, presence, session_epoch,
                            slot_ordinal, last_disconnect_reason, status_seq, status_state, status_progress, status_fields, status_at)
        VALUES (CASE WHEN EXISTS (SELECT 1 FROM agents WHERE rowid = $slot_key) THEN NULL ELSE $slot_key END, $id, $labels, $address, $version, $hub_node, $first_seen, $last_seen, $presence, $session_epoch,
                $slot_ordinal, $last_disconnect_reason, $status_seq, $status_state, $status_progress, $status_fields, $status_at)
        ON CONFLICT (id) DO UPDATE SET
            labels = excluded.labels,
            address = excluded.address,
            version = excluded.version,
            hub_node = excluded.hub_node,
            last_seen = excluded.last_seen,
            presence = excluded.presence,
            session_epoch = excluded.session_epoch,
            slot_ordinal = excluded.slot_ordinal,
            last_disconnect_reason = excluded.last_disconnect_reason,
            status_seq = excluded.status_seq,
            status_state = excluded.status_state,
            status_progress = excluded.status_progress,
            status_fields = excluded.status_fields,
            status_at = excluded.status_at
        """;

    public const string InsertSample =
        """
        INSERT INTO status_history (agent_id, seq, state, progress, fields, received_at)
        VALUES ($agent_id, $seq, $state, $progress, $fields, $received_at)
        """;

    public const string SelectLiveAgents = "SELECT " + AgentColumns + " FROM agents WHERE presence <> 'retired'";

    public const string SelectAgent = "SELECT " + AgentColumns + " FROM agents WHERE id = $id";

    public const string SelectHistory =
        """
        SELECT seq, state, progress, fields, received_at FROM status_history
        WHERE agent_id = $agent_id ORDER BY id DESC LIMIT $limit
        """;

    public const string InsertEvent =
        """
        INSERT INTO agent_events (agent_id, at, kind, reason, detail)
        VALUES ($agent_id, $at, $kind, $reason, $detail)
        """;

    public const string SelectHistoryPage =
        """
        SELECT seq, state, progress, fields, received_at, id FROM status_history
        WHERE agent_id = $agent_id AND id < $before AND received_at >= $since ORDER BY id DESC LIMIT $limit
        """;

    public const string SelectEventsPage =
        """
        SELECT id, at, kind, reason, detail FROM agent_events
        WHERE agent_id = $agent_id AND id < $before AND at >= $since ORDER BY id DESC LIMIT $limit
        """;

    /// <summary>Of the rows received in [from, to), all but the newest of each agent in each bucket of $step ms.</summary>
    public const string DownsampleHistory =
        """
        DELETE FROM status_history
        WHERE received_at >= $from AND received_at < $to
          AND id NOT IN (SELECT MAX(id) FROM status_history
                         WHERE received_at >= $from AND received_at < $to
                         GROUP BY agent_id, received_at / $step)
        """;

    public const string PruneHistoryByAge = "DELETE FROM status_history WHERE received_at < $older_than";

    public const string PruneEvents = "DELETE FROM agent_events WHERE at < $older_than";

    /// <summary>Rows older than the cut-off, and rows ranked beyond the cap within their agent (newest first).</summary>
    public const string PruneHistory =
        """
        DELETE FROM status_history
        WHERE received_at < $older_than
           OR id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY id DESC) AS rn
                                     FROM status_history)
                     WHERE rn > $max_per_agent)
        """;

    /// <summary>Epochs are unsigned stored as their signed bit pattern: any negative value is above every
    /// non-negative one, and among the negatives the signed order is the unsigned order.</summary>
    public const string SelectCounters =
        """
        SELECT COALESCE((SELECT MAX(session_epoch) FROM agents WHERE session_epoch < 0),
                        (SELECT MAX(session_epoch) FROM agents),
                        0),
               COALESCE((SELECT MAX(slot_ordinal) FROM agents), 0)
        """;
}
