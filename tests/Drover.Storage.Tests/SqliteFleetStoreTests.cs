using System.Text;
using Drover.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Tests;

/// <summary>The store contract against real SQLite files, plus what only the SQLite store has: files,
/// pragmas, the column representation, and its failure modes.</summary>
public sealed class SqliteFleetStoreTests : FleetStoreContract
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "drover-storage-tests", Guid.NewGuid().ToString("N"));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    protected override async Task<IFleetStore> CreateStoreAsync(string name)
    {
        string path = PathOf(name);
        Assert.False(File.Exists(path), $"{path} already exists");
        return await OpenAsync(new SqliteStoreOptions { Path = path });
    }

    protected override async Task<IFleetStore> ReopenStoreAsync(string name)
    {
        string path = PathOf(name);
        Assert.True(File.Exists(path), $"{path} does not exist");
        return await OpenAsync(new SqliteStoreOptions { Path = path });
    }

    private string PathOf(string name) => Path.Combine(_directory, name + ".db");

    private static async Task<SqliteFleetStore> OpenAsync(SqliteStoreOptions options)
    {
        var store = new SqliteFleetStore(options);
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

    [Fact]
    public async Task Initialize_creates_the_directories_the_file_wal_mode_and_the_schema_version()
    {
        string path = Path.Combine(_directory, "a", "b", "fleet.db");
        var store = new SqliteFleetStore(new SqliteStoreOptions { Path = path });
        await using (store)
        {
            await store.InitializeAsync(CancellationToken.None);

            Assert.Equal(Path.GetFullPath(path), store.FilePath);
            Assert.True(File.Exists(path));
            Assert.Equal(1L, await store.WriterPragmaAsync("synchronous", CancellationToken.None)); // NORMAL
            Assert.Equal("wal", await store.WriterPragmaAsync("journal_mode", CancellationToken.None));
            using SqliteConnection raw = OpenRaw(path);
            Assert.Equal("wal", Scalar(raw, "PRAGMA journal_mode;"));
            Assert.Equal(7L, Scalar(raw, "PRAGMA user_version;")); // 1: agents, 2: jobs (SqliteJobStore), 3: the finished-jobs index, 4: tokens and audit (SqliteAccessStore), 5: enrollment, 6: agent events, 7: files stored once
            Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'status_history_agent_id';"));
        }
    }

    [Fact]
    public async Task Rows_sit_in_the_order_agents_report_in_and_a_taken_place_does_not_refuse_an_agent()
    {
        var store = (SqliteFleetStore)await NewStoreAsync("clustered");
        // Registered in ordinal order (as the hub does), written in a shuffled order: the rows follow the report moment, the
        // van der Corput order of the ordinals (0, 32, 16, 48, 8, ... for 64 agents), not the order of the writes.
        var agents = Enumerable.Range(0, 64).Select(slot => Agent($"r-{slot:D2}", slot: slot)).ToArray();
        Random.Shared.Shuffle(agents);
        await WriteAsync(store, agents);
        // Two more with an ordinal already taken (a store written by something else): stored, just not in place.
        await WriteAsync(store, Agent("dup-a", slot: 5), Agent("dup-b", slot: 0));
        await WriteAsync(store, agents[..10]); // and updates keep every row where it is

        using SqliteConnection raw = OpenRaw(store.FilePath);
        using SqliteCommand command = raw.CreateCommand();
        command.CommandText = "SELECT slot_ordinal FROM agents WHERE id LIKE 'r-%' ORDER BY rowid";
        var stored = new List<long>();
        using (SqliteDataReader reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                stored.Add(reader.GetInt64(0));
            }
        }

        Assert.Equal(Enumerable.Range(0, 64).Select(slot => (long)slot).OrderBy(SlotOrder.Key), stored);
        Assert.Equal(new long[] { 0, 32, 16, 48, 8 }, stored.Take(5));
        Assert.Equal(66L, Scalar(raw, "SELECT count(*) FROM agents"));
        Assert.Equal(5L, Scalar(raw, "SELECT slot_ordinal FROM agents WHERE id = 'dup-a'"));
    }

    [Fact]
    public async Task Columns_use_the_documented_representation()
    {
        var store = (SqliteFleetStore)await NewStoreAsync("columns");
        ulong epoch = (ulong)long.MaxValue + 5;
        await WriteAsync(
            store,
            Agent("a", Presence.Late, epoch: epoch, slot: 9, status: new StatusRecord(3, "busy", null, """{ "kept":  "as is" }""", T0.AddSeconds(2))),
            Agent("b", Presence.Retired));

        using SqliteConnection raw = OpenRaw(store.FilePath);
        using SqliteCommand command = raw.CreateCommand();
        command.CommandText = "SELECT presence, first_seen, last_seen, session_epoch, labels, status_fields, status_progress, status_at, status_seq FROM agents WHERE id = 'a'";
        using SqliteDataReader reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal("late", reader.GetString(0));
        Assert.Equal(T0.ToUnixTimeMilliseconds(), reader.GetInt64(1));
        Assert.Equal(T0.AddMinutes(1).ToUnixTimeMilliseconds(), reader.GetInt64(2));
        Assert.Equal(unchecked((long)epoch), reader.GetInt64(3));
        Assert.True(reader.GetInt64(3) < 0);
        Assert.Equal("""{"role":"build"}""", reader.GetString(4));
        Assert.Equal("""{ "kept":  "as is" }""", reader.GetString(5));
        Assert.True(reader.IsDBNull(6));
        Assert.Equal(T0.AddSeconds(2).ToUnixTimeMilliseconds(), reader.GetInt64(7));
        Assert.Equal(3L, reader.GetInt64(8));
        Assert.Equal("retired", Scalar(raw, "SELECT presence FROM agents WHERE id = 'b'"));
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_gives_a_clear_error_naming_the_path_and_is_left_alone()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "garbage.db");
        byte[] garbage = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("this is not a SQLite database. ", 200)));
        await File.WriteAllBytesAsync(path, garbage);

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => OpenAsync(new SqliteStoreOptions { Path = path }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a SQLite database", error.Message, StringComparison.Ordinal);
        Assert.Equal(26, Assert.IsType<SqliteException>(error.InnerException).SqliteErrorCode);
        Assert.Equal(garbage, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_directory_that_cannot_be_created_gives_a_clear_error_naming_the_path()
    {
        Directory.CreateDirectory(_directory);
        string blocker = Path.Combine(_directory, "a-file");
        await File.WriteAllTextAsync(blocker, "a file where a directory should be");
        string path = Path.Combine(blocker, "sub", "fleet.db");

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => OpenAsync(new SqliteStoreOptions { Path = path }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("Cannot create the directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sqlite_database_that_is_not_a_drover_store_is_refused_untouched()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "foreign.db");
        using (SqliteConnection raw = OpenRaw(path))
        {
            Scalar(raw, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);");
        }

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => OpenAsync(new SqliteStoreOptions { Path = path }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a Drover store", error.Message, StringComparison.Ordinal);
        using SqliteConnection check = OpenRaw(path);
        Assert.Equal("delete", Scalar(check, "PRAGMA journal_mode;"));
        Assert.Equal(0L, Scalar(check, "SELECT count(*) FROM sqlite_schema WHERE name = 'agents';"));
    }

    [Fact]
    public async Task A_store_with_a_newer_schema_version_is_refused()
    {
        IFleetStore store = await NewStoreAsync("newer");
        await store.DisposeAsync();
        using (SqliteConnection raw = OpenRaw(PathOf("newer")))
        {
            Scalar(raw, "PRAGMA user_version = 99;");
        }

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => OpenAsync(new SqliteStoreOptions { Path = PathOf("newer") }));

        Assert.Contains(PathOf("newer"), error.Message, StringComparison.Ordinal);
        Assert.Contains("schema version 99", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_store_fails_the_batch_clearly_rolls_it_back_and_stays_usable()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "small.db");
        SqliteFleetStore store = await OpenAsync(new SqliteStoreOptions { Path = path, MaxPageCount = 40 });
        await using (store)
        {
            AgentRecord[] seed = [.. Enumerable.Range(0, 10).Select(i => Agent($"seed-{i}"))];
            await WriteAsync(store, seed);
            string label = new('x', 400);
            AgentRecord[] big = [.. Enumerable.Range(0, 5_000).Select(i => Agent($"big-{i}") with
            {
                Labels = new Dictionary<string, string> { ["pad"] = label },
            })];

            StoreException error = await Assert.ThrowsAsync<StoreException>(
                () => store.WriteBatchAsync(big, [Sample("seed-1", 1, T0)], CancellationToken.None));

            Assert.Contains(path, error.Message, StringComparison.Ordinal);
            Assert.Contains("is full", error.Message, StringComparison.Ordinal);
            Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
            Assert.Equal(13, Assert.IsType<SqliteException>(error.InnerException).SqliteErrorCode);
            Assert.Equal(seed.Select(a => a.Id).Order(StringComparer.Ordinal), (await store.LoadAgentsAsync(CancellationToken.None)).Select(a => a.Id).Order(StringComparer.Ordinal));
            Assert.Null(await store.GetAgentAsync("big-0", CancellationToken.None));
            Assert.Empty(await store.GetStatusHistoryAsync("seed-1", 10, CancellationToken.None));

            await WriteAsync(store, Agent("after-full"));
            Assert.NotNull(await store.GetAgentAsync("after-full", CancellationToken.None));
        }
    }

    [Fact]
    public async Task Dispose_closes_every_connection_and_checkpoints_the_wal()
    {
        IFleetStore store = await NewStoreAsync("closed");
        await WriteAsync(store, Agent("a"));
        await store.LoadAgentsAsync(CancellationToken.None);
        await store.GetAgentAsync("a", CancellationToken.None);
        Assert.True(File.Exists(PathOf("closed") + "-wal"));

        await store.DisposeAsync();

        Assert.False(File.Exists(PathOf("closed") + "-wal"));
        using SqliteConnection raw = OpenRaw(PathOf("closed"));
        Assert.Equal(1L, Scalar(raw, "SELECT count(*) FROM agents;"));
    }

    [Fact]
    public async Task Use_before_initialize_or_after_dispose_is_refused()
    {
        var store = new SqliteFleetStore(new SqliteStoreOptions { Path = PathOf("unready") });

        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.LoadAgentsAsync(CancellationToken.None));
        Assert.Contains("InitializeAsync", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(PathOf("unready")));

        await store.InitializeAsync(CancellationToken.None);
        await store.DisposeAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.WriteBatchAsync([Agent("a")], [], CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetAgentAsync("a", CancellationToken.None));
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new SqliteFleetStore(new SqliteStoreOptions { Path = " " }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteFleetStore(new SqliteStoreOptions { Path = "x.db", BusyTimeout = TimeSpan.Zero }));
        Assert.Equal(TimeSpan.FromSeconds(5), new SqliteStoreOptions { Path = "x.db" }.BusyTimeout);
    }
}
