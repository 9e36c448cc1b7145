using Drover.Storage.Sqlite.Internal;

namespace Drover.Storage.Sqlite;

/// <summary>The embedded default job store: the job tables of the same SQLite file as
/// <see cref="SqliteFleetStore"/> (or a file of its own), reached through connections of its own. Partial files:
/// Read (the queries), Write (the changes and the group commit; their transaction steps are
/// <c>Internal/JobChanges.cs</c>, their argument checks <c>Internal/JobValidation.cs</c>), Retention (pruning).</summary>
/// <remarks>
/// <para>File sharing and schema version: the file has one schema and one <c>PRAGMA user_version</c>
/// (see <c>Internal/Schema.cs</c>); the job tables are migration 1 → 2. Both stores run the same
/// migrations, so whichever opens the file first creates or migrates all of it, and each refuses a file
/// whose version is newer than the code. Two stores on one file are two writers: their transactions
/// take turns on SQLite's file lock, waiting up to <see cref="SqliteStoreOptions.BusyTimeout"/>.</para>
/// <para>Writes are serialized on one dedicated write connection (guarded by a semaphore; see
/// <c>Internal/StoreWriter.cs</c>) whose statements are prepared once and reused; every write method is one
/// <c>BEGIN IMMEDIATE</c> transaction, so a state change and the checks it depends on are atomic.
/// <see cref="ApplyAsync"/> is the hub's group commit: many changes in one transaction. Reads use pooled
/// connections and see the last committed state.</para>
/// <para>Durability: WAL with <c>synchronous=FULL</c> on the write connection: every commit fsyncs the WAL
/// before it returns, so a committed write survives a crash of the process and also a power loss or
/// operating-system crash (the hub never loses a job it accepted, nor a result it acknowledged). The cost is
/// one fsync per transaction, which the hub spreads over a whole batch through <see cref="ApplyAsync"/>.
/// (The fleet store keeps <c>synchronous=NORMAL</c> on its own connection, also when it shares the file.)</para>
/// <para>Representation: times as unix milliseconds (read back in UTC, sub-millisecond precision dropped);
/// the timeout as milliseconds; files in a table of their own (<c>contents</c>) so that state changes do not rewrite
/// them, one row shared by the jobs that carry the same file while the store still remembers storing it
/// (<c>Internal/RecentContents.cs</c>), deleted by the prune that takes the last job holding it; results one row per
/// job (<c>job_results</c>), failed and abandoned attempts in <c>job_attempts</c>, results for attempts that are no longer current in <c>stale_results</c>.</para>
/// <para>Errors: SQLite failures surface as <see cref="StoreException"/> naming the file and the cause;
/// a failed write is rolled back in full.</para>
/// </remarks>
public sealed partial class SqliteJobStore : IJobStore
{
    private readonly TimeProvider _time;
    private readonly StoreFile _file;
    private readonly StoreWriter<PreparedCommands> _writer;
    private readonly RecentContents _recentContents = new();

    /// <summary>A store on <see cref="SqliteStoreOptions.Path"/>, stamping with <see cref="SqliteStoreOptions.TimeProvider"/>.</summary>
    public SqliteJobStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _file = new StoreFile(options);
        _time = options.TimeProvider;

        // The prepared commands enlist themselves: PreparedCommands.Get takes the transaction.
        _writer = new StoreWriter<PreparedCommands>(
            _file,
            Synchronous.Full,
            static (connection, timeoutSeconds) => new PreparedCommands(connection, timeoutSeconds),
            enlist: null,
            this);
    }

    /// <summary>Shorthand for <see cref="SqliteStoreOptions.TimeProvider"/> = <paramref name="timeProvider"/>.</summary>
    public SqliteJobStore(SqliteStoreOptions options, TimeProvider timeProvider)
        : this((options ?? throw new ArgumentNullException(nameof(options))) with { TimeProvider = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider)) })
    {
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _file.Path;

    /// <inheritdoc/>
    /// <remarks>Creates the parent directory and the file, switches it to WAL mode and creates or migrates
    /// the whole schema. Throws <see cref="StoreException"/> for a foreign, newer or unreadable file.</remarks>
    public Task InitializeAsync(CancellationToken cancellationToken) => _writer.InitializeAsync(cancellationToken);

    /// <summary>Waits for a write in progress, then closes every connection of this store.</summary>
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    /// <summary>Test hook: the value of a pragma on the write connection (for example "synchronous").</summary>
    internal Task<object?> WriterPragmaAsync(string pragma, CancellationToken cancellationToken) =>
        _writer.PragmaAsync(pragma, cancellationToken);

    private void ThrowIfNotReady() => _writer.ThrowIfNotReady();
}
