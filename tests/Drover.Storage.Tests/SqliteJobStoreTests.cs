using System.Security.Cryptography;
using Drover.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Tests;

/// <summary>The job store contract against real SQLite files, plus what only the SQLite store has: its
/// tables and history rows, pragmas, and sharing one file (and one schema version) with the fleet store.</summary>
public sealed class SqliteJobStoreTests : JobStoreContract
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "drover-storage-tests", Guid.NewGuid().ToString("N"));
    private readonly List<IAsyncDisposable> _others = [];

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (IAsyncDisposable other in _others)
        {
            await other.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    protected override async Task<IJobStore> CreateStoreAsync(string name)
    {
        string path = PathOf(name);
        Assert.False(File.Exists(path), $"{path} already exists");
        return await OpenJobsAsync(path);
    }

    protected override async Task<IJobStore> ReopenStoreAsync(string name)
    {
        string path = PathOf(name);
        Assert.True(File.Exists(path), $"{path} does not exist");
        return await OpenJobsAsync(path);
    }

    private string PathOf(string name) => Path.Combine(_directory, name + ".db");

    private static async Task<SqliteJobStore> OpenJobsAsync(string path)
    {
        var store = new SqliteJobStore(new SqliteStoreOptions { Path = path });
        try
        {
            await store.InitializeAsync(CancellationToken.None);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    private async Task<SqliteFleetStore> OpenFleetAsync(string path)
    {
        var store = new SqliteFleetStore(new SqliteStoreOptions { Path = path });
        _others.Add(store);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private async Task<SqliteJobStore> OpenOtherJobsAsync(string path)
    {
        SqliteJobStore store = await OpenJobsAsync(path);
        _others.Add(store);
        return store;
    }

    private static SqliteConnection OpenRaw(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static AgentRecord Agent(string id) => new() { Id = id, FirstSeen = T0, LastSeen = T0, SessionEpoch = 3, SlotOrdinal = 5 };

    [Fact]
    public async Task Initialize_sets_wal_full_sync_and_the_shared_schema_version()
    {
        var store = (SqliteJobStore)await NewStoreAsync("pragmas");

        Assert.Equal(2L, await store.WriterPragmaAsync("synchronous", CancellationToken.None)); // FULL
        Assert.Equal("wal", await store.WriterPragmaAsync("journal_mode", CancellationToken.None));
        using SqliteConnection raw = OpenRaw(store.FilePath);
        Assert.Equal(7L, Scalar(raw, "PRAGMA user_version;"));
        Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'agents';"));
        Assert.Equal(5L, Scalar(raw, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('jobs', 'contents', 'job_results', 'job_attempts', 'stale_results');"));
    }

    [Fact]
    public async Task On_one_file_the_job_store_syncs_full_and_the_fleet_store_normal()
    {
        var jobs = (SqliteJobStore)await NewStoreAsync("sync-levels");
        SqliteFleetStore fleet = await OpenFleetAsync(jobs.FilePath);
        await jobs.SubmitAsync([Job("j")], CancellationToken.None);
        await fleet.WriteBatchAsync([Agent("a")], [], CancellationToken.None);

        Assert.Equal(2L, await jobs.WriterPragmaAsync("synchronous", CancellationToken.None)); // FULL
        Assert.Equal(1L, await fleet.WriterPragmaAsync("synchronous", CancellationToken.None)); // NORMAL
        Assert.Equal("wal", await jobs.WriterPragmaAsync("journal_mode", CancellationToken.None));
        Assert.Equal("wal", await fleet.WriterPragmaAsync("journal_mode", CancellationToken.None));
    }

    [Fact]
    public async Task One_result_row_per_job_with_attempts_and_stale_results_kept_for_the_record()
    {
        var store = (SqliteJobStore)await NewStoreAsync("history");
        await SubmitAsync(store, Job("a", maxRetries: 3));
        await LeaseAsync(store, "a", 1, "agent-1");
        await store.RecordResultAsync(Result("a", 1, "agent-1", "exit-nonzero", "boom"), false, CancellationToken.None);
        await store.RecordResultAsync(Result("a", 1, "agent-1", "exit-nonzero", "boom"), false, CancellationToken.None);
        await LeaseAsync(store, "a", 2, "agent-2");
        await store.RequeueAsync("a", 2, "lease-expired", CancellationToken.None);
        await LeaseAsync(store, "a", 3, "agent-3");
        Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result("a", 2, "agent-2"), true, CancellationToken.None));
        await store.RecordResultAsync(Result("a", 3, "agent-3"), true, CancellationToken.None);
        await store.RecordResultAsync(Result("a", 3, "agent-3"), true, CancellationToken.None);

        using SqliteConnection raw = OpenRaw(store.FilePath);
        Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM job_results WHERE job_id = 'a';"));
        Assert.Equal(3L, Scalar(raw, "SELECT attempt FROM job_results WHERE job_id = 'a';"));
        Assert.Equal("1:agent-1:exit-nonzero:boom:1,2:agent-2:lease-expired:lease-expired:0", Scalar(raw,
            "SELECT group_concat(attempt || ':' || agent_id || ':' || outcome || ':' || error || ':' || from_result, ',') FROM (SELECT * FROM job_attempts WHERE job_id = 'a' ORDER BY attempt);"));
        Assert.Equal("2:agent-2", Scalar(raw, "SELECT group_concat(attempt || ':' || agent_id) FROM stale_results WHERE job_id = 'a';"));
        Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM contents WHERE id = (SELECT content_id FROM jobs WHERE id = 'a');"));
    }

    [Fact]
    public async Task Fleet_and_job_stores_share_one_file_in_either_order()
    {
        Directory.CreateDirectory(_directory);
        foreach (bool jobsFirst in new[] { true, false })
        {
            string path = PathOf(jobsFirst ? "shared-jobs-first" : "shared-fleet-first");
            SqliteJobStore jobs;
            SqliteFleetStore fleet;
            if (jobsFirst)
            {
                jobs = await OpenOtherJobsAsync(path);
                fleet = await OpenFleetAsync(path);
            }
            else
            {
                fleet = await OpenFleetAsync(path);
                jobs = await OpenOtherJobsAsync(path);
            }

            // Interleaved writers on one file, through their own connections.
            await Task.WhenAll(
                Task.Run(async () =>
                {
                    for (int i = 0; i < 20; i++)
                    {
                        await fleet.WriteBatchAsync([Agent($"agent-{i}")], [], CancellationToken.None);
                    }
                }),
                Task.Run(async () =>
                {
                    for (int i = 0; i < 20; i++)
                    {
                        await jobs.SubmitAsync([Job($"job-{i}")], CancellationToken.None);
                    }
                }));

            Assert.Equal(20, (await fleet.LoadAgentsAsync(CancellationToken.None)).Count);
            Assert.Equal(20, await jobs.CountQueuedAsync(CancellationToken.None));
            await jobs.DisposeAsync();
            await fleet.DisposeAsync();

            SqliteFleetStore fleetAgain = await OpenFleetAsync(path);
            SqliteJobStore jobsAgain = await OpenOtherJobsAsync(path);
            Assert.Equal(20, (await fleetAgain.LoadAgentsAsync(CancellationToken.None)).Count);
            Assert.Equal((3UL, 5L), await fleetAgain.GetCountersAsync(CancellationToken.None));
            Assert.Equal(20, await jobsAgain.CountQueuedAsync(CancellationToken.None));
        }
    }

    [Fact]
    public async Task Two_job_stores_on_one_file_lease_a_job_once()
    {
        var first = (SqliteJobStore)await NewStoreAsync("two-writers");
        SqliteJobStore second = await OpenOtherJobsAsync(first.FilePath);
        await SubmitAsync(first, [.. Enumerable.Range(0, 20).Select(i => Job($"j{i:D2}"))]);

        bool[][] won = await Task.WhenAll(
            Task.Run(async () => await Task.WhenAll(Enumerable.Range(0, 20).Select(i => LeaseAsync(first, $"j{i:D2}", 1, "agent-a")))),
            Task.Run(async () => await Task.WhenAll(Enumerable.Range(0, 20).Select(i => LeaseAsync(second, $"j{i:D2}", 1, "agent-b")))));

        Assert.All(Enumerable.Range(0, 20), i => Assert.True(won[0][i] ^ won[1][i]));
        Assert.Equal(0, await second.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_version_1_fleet_file_is_migrated_and_keeps_its_agents()
    {
        Directory.CreateDirectory(_directory);
        string path = PathOf("v1");
        using (SqliteConnection raw = OpenRaw(path))
        {
            Scalar(raw, Drover.Storage.Sqlite.Internal.Schema.Migrations[0]);
            Scalar(raw, "INSERT INTO agents (id, first_seen, last_seen, presence, session_epoch, slot_ordinal) VALUES ('old', 0, 0, 'online', 1, 1);");
            Scalar(raw, "PRAGMA user_version = 1;");
        }

        SqliteJobStore jobs = await OpenOtherJobsAsync(path);
        await jobs.SubmitAsync([Job("j")], CancellationToken.None);
        SqliteFleetStore fleet = await OpenFleetAsync(path);

        Assert.NotNull(await fleet.GetAgentAsync("old", CancellationToken.None));
        Assert.Equal(1, await jobs.CountQueuedAsync(CancellationToken.None));
        using SqliteConnection check = OpenRaw(path);
        Assert.Equal(7L, Scalar(check, "PRAGMA user_version;"));
    }

    [Fact]
    public async Task Prune_deletes_every_row_of_a_pruned_job_and_none_of_the_others()
    {
        var store = (SqliteJobStore)await NewStoreAsync("prune-rows");
        await SubmitAsync(store, Job("old", maxRetries: 3), Job("new", maxRetries: 3), Job("running", maxRetries: 3));
        foreach ((string id, DateTimeOffset at) in new[] { ("old", T0.AddMinutes(3)), ("new", T0.AddHours(3)) })
        {
            // Every kind of row: a failed attempt (job_attempts), a stale result, the result, the content.
            Assert.True(await LeaseAsync(store, id, 1, "agent-1"));
            Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result(id, 1, "agent-1", "exit-nonzero", "boom"), false, CancellationToken.None));
            Assert.True(await LeaseAsync(store, id, 2, "agent-2"));
            Assert.Equal(1, await store.RequeueAsync(id, 2, "agent-lost", CancellationToken.None));
            Assert.True(await LeaseAsync(store, id, 3, "agent-3"));
            Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result(id, 2, "agent-2"), true, CancellationToken.None));
            Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result(id, 3, "agent-3") with { RecordedAt = at }, true, CancellationToken.None));
        }

        Assert.True(await LeaseAsync(store, "running", 1, "agent-1"));
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("running", 1, "agent-1", "exit-nonzero", "boom"), false, CancellationToken.None));
        Assert.True(await LeaseAsync(store, "running", 2, "agent-2"));
        using SqliteConnection raw = OpenRaw(store.FilePath);
        string Rows(string id) => (string)Scalar(raw,
            $"SELECT (SELECT count(*) FROM jobs WHERE id = '{id}') || ',' || (SELECT count(*) FROM contents WHERE id = (SELECT content_id FROM jobs WHERE id = '{id}')) || ',' || " +
            $"(SELECT count(*) FROM job_results WHERE job_id = '{id}') || ',' || (SELECT count(*) FROM job_attempts WHERE job_id = '{id}') || ',' || " +
            $"(SELECT count(*) FROM stale_results WHERE job_id = '{id}');")!;
        Assert.Equal("1,1,1,2,1", Rows("old"));

        Assert.Equal(1, await store.PruneFinishedAsync(T0.AddHours(1), 10_000, CancellationToken.None));

        Assert.Equal("0,0,0,0,0", Rows("old"));
        Assert.Equal("1,1,1,2,1", Rows("new"));
        Assert.Equal("1,1,1,1,0", Rows("running"));
    }

    [Fact]
    public async Task A_file_sent_in_many_jobs_is_stored_once_and_goes_with_the_last_job_that_holds_it()
    {
        var store = (SqliteJobStore)await NewStoreAsync("content-once");
        byte[] shared = new byte[4096];
        new Random(7).NextBytes(shared);
        JobRecord[] fanOut = Enumerable.Range(0, 1000).Select(i => Job($"to-{i:D4}") with { Content = shared, FileSize = shared.Length, Sha256 = SHA256.HashData(shared) }).ToArray();
        await store.SubmitAsync(fanOut[..600], CancellationToken.None);
        await store.SubmitAsync(fanOut[600..], CancellationToken.None);
        await SubmitAsync(store, Job("own"));

        using SqliteConnection raw = OpenRaw(store.FilePath);
        const string Holders = "SELECT group_concat(jobs) FROM (SELECT h.jobs FROM content_holders h JOIN contents c ON c.id = h.content_id ORDER BY h.jobs DESC);";
        Assert.Equal("1000,1", Scalar(raw, Holders)!.ToString());
        Assert.Equal(2L, Scalar(raw, "SELECT count(*) FROM contents;"));

        // Finish all but two of the fan-out at T0 + 1 min, those two and "own" later (one transaction); prune what finished
        // before T0 + 1 h.
        (string Id, DateTimeOffset At)[] finished = [.. fanOut.Select((job, i) => (job.Id, i < 998 ? T0.AddMinutes(1) : T0.AddHours(2))), ("own", T0.AddHours(2))];
        JobBatchOutcome outcome = await store.ApplyAsync(
            new JobBatch
            {
                Leases = [.. finished.Select(job => new JobLease(job.Id, "agent-1", 1, T0.AddDays(1)))],
                Results = [.. finished.Select(job => new JobResultSubmission(Result(job.Id, 1, "agent-1") with { RecordedAt = job.At }, Success: true))],
            },
            CancellationToken.None);
        Assert.All(outcome.Results, recording => Assert.Equal(ResultRecording.Recorded, recording));

        Assert.Equal(998, await store.PruneFinishedAsync(T0.AddHours(1), 10_000, CancellationToken.None));
        Assert.Equal("2,1", Scalar(raw, Holders)!.ToString());
        Assert.Equal([shared, shared], await store.LoadContentAsync(["to-0998", "to-0999"], CancellationToken.None));

        Assert.Equal(3, await store.PruneFinishedAsync(T0.AddHours(3), 10_000, CancellationToken.None));
        Assert.Equal(0L, Scalar(raw, "SELECT count(*) FROM contents;"));
        Assert.Equal(0L, Scalar(raw, "SELECT count(*) FROM content_holders;"));
    }

    [Fact]
    public async Task Prune_finds_its_jobs_through_the_partial_index()
    {
        var store = (SqliteJobStore)await NewStoreAsync("prune-plan");
        using SqliteConnection raw = OpenRaw(store.FilePath);
        using SqliteCommand explain = raw.CreateCommand();
        explain.CommandText = "EXPLAIN QUERY PLAN " + Drover.Storage.Sqlite.Internal.JobSql.SelectPrunable;
        explain.Parameters.AddWithValue("$before", 0L);
        explain.Parameters.AddWithValue("$limit", 10);
        var plan = new List<string>();
        using (SqliteDataReader reader = explain.ExecuteReader())
        {
            while (reader.Read())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.Contains(plan, step => step.Contains("USING INDEX jobs_finished", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE", StringComparison.Ordinal)); // no sort: the index is in finish order
    }

    [Fact]
    public async Task A_version_2_file_is_migrated_to_3_and_its_old_finished_jobs_can_be_pruned()
    {
        Directory.CreateDirectory(_directory);
        string path = PathOf("v2");
        using (SqliteConnection raw = OpenRaw(path))
        {
            Scalar(raw, Drover.Storage.Sqlite.Internal.Schema.Migrations[0]);
            Scalar(raw, Drover.Storage.Sqlite.Internal.Schema.Migrations[1]);

            // What the version-2 code wrote: a job that finished long ago (with its content and result) and a queued one.
            foreach ((string id, string state, string finished) in new[] { ("old", "done", "1000"), ("queued", "queued", "NULL") })
            {
                Scalar(raw,
                    "INSERT INTO jobs (id, state, priority, target, file_name, file_size, sha256, args, timeout_ms, max_retries, attempt, submitted_at, finished_at) " +
                    $"VALUES ('{id}', '{state}', 0, 'random', 'f', 1, x'01', '', 1000, 0, 1, 500, {finished});" +
                    $"INSERT INTO job_content (job_id, content) VALUES ('{id}', x'65');");
            }

            Scalar(raw,
                "INSERT INTO job_results (job_id, attempt, agent_id, outcome, exit_code, duration_ms, stdout_tail, stderr_tail, out_file, error, recorded_at) " +
                "VALUES ('old', 1, 'agent-1', 'completed', 0, 5, x'', x'', x'', '', 1000);");
            Scalar(raw, "PRAGMA user_version = 2;");
        }

        SqliteJobStore migrated = await OpenOtherJobsAsync(path);

        using (SqliteConnection check = OpenRaw(path))
        {
            Assert.Equal(7L, Scalar(check, "PRAGMA user_version;"));
            Assert.Equal(1L, Scalar(check, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'jobs_finished';"));
        }

        // Migration 7 moves each job's file to a row of its own.
        using (SqliteConnection check = OpenRaw(path))
        {
            Assert.Equal(2L, Scalar(check, "SELECT count(*) FROM jobs j JOIN contents c ON c.id = j.content_id AND c.sha256 = j.sha256;"));
        }

        Assert.Equal(JobStates.Done, (await GetAsync(migrated, "old")).State);
        Assert.Equal(1, await migrated.PruneFinishedAsync(T0, 100, CancellationToken.None));
        Assert.Null(await migrated.GetJobAsync("old", withContent: false, CancellationToken.None));
        Assert.Equal(1, await migrated.CountQueuedAsync(CancellationToken.None));
        Assert.Equal([0x65], (await GetAsync(migrated, "queued")).Content);
        using (SqliteConnection check = OpenRaw(path))
        {
            Assert.Equal("1,1", Scalar(check, "SELECT (SELECT count(*) FROM contents) || ',' || (SELECT group_concat(jobs) FROM content_holders);")); // the pruned job's file went with it
        }
    }

    [Fact]
    public async Task A_foreign_or_newer_file_is_refused()
    {
        Directory.CreateDirectory(_directory);
        string foreign = PathOf("foreign");
        using (SqliteConnection raw = OpenRaw(foreign))
        {
            Scalar(raw, "CREATE TABLE accounts (id INTEGER PRIMARY KEY);");
        }

        StoreException notOurs = await Assert.ThrowsAsync<StoreException>(() => OpenJobsAsync(foreign));
        Assert.Contains("not a Drover store", notOurs.Message, StringComparison.Ordinal);

        IJobStore store = await NewStoreAsync("newer");
        await store.DisposeAsync();
        using (SqliteConnection raw = OpenRaw(PathOf("newer")))
        {
            Scalar(raw, "PRAGMA user_version = 99;");
        }

        StoreException newer = await Assert.ThrowsAsync<StoreException>(() => OpenJobsAsync(PathOf("newer")));
        Assert.Contains("schema version 99", newer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_duplicate_id_names_the_file_and_says_it_was_rolled_back()
    {
        var store = (SqliteJobStore)await NewStoreAsync("dup");
        await SubmitAsync(store, Job("a"));

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("b"), Job("a")));

        Assert.Contains(store.FilePath, error.Message, StringComparison.Ordinal);
        Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        Assert.Equal(19, Assert.IsType<SqliteException>(error.InnerException).SqliteErrorCode); // SQLITE_CONSTRAINT
        using SqliteConnection raw = OpenRaw(store.FilePath);
        Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM contents;"));
    }

    [Fact]
    public async Task Use_before_initialize_or_after_dispose_is_refused()
    {
        var store = new SqliteJobStore(new SqliteStoreOptions { Path = PathOf("unready") });

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CountQueuedAsync(CancellationToken.None));
        Assert.False(File.Exists(PathOf("unready")));

        await store.InitializeAsync(CancellationToken.None);
        await store.InitializeAsync(CancellationToken.None);
        await store.DisposeAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.SubmitAsync([Job("a")], CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetJobAsync("a", withContent: true, CancellationToken.None));
    }
}
