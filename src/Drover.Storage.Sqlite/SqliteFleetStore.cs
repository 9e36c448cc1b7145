using Drover.Storage.Sqlite.Internal;

namespace Drover.Storage.Sqlite;

/// <summary>The embedded default store: one SQLite file in write-ahead-log mode.</summary>
/// <remarks>
/// <para>Writes are serialized on one dedicated write connection (one writer at a time, guarded by a
/// semaphore; see <c>Internal/StoreWriter.cs</c>); every <see cref="WriteBatchAsync"/> is one
/// transaction whose statements are prepared once and reused for every row. Reads use their own pooled
/// connections and see the last committed state, so they neither wait for nor disturb a write in
/// progress.</para>
/// <para>Durability: <c>synchronous=NORMAL</c> in WAL mode. A committed batch survives a crash of the
/// process; a power loss or operating-system crash may drop the last few committed transactions (the
/// database stays consistent). That is the trade-off for not paying one fsync per batch. (The job
/// store uses <c>synchronous=FULL</c> on its own connection, also when it shares this file.)</para>
/// <para>Representation: times are stored as unix milliseconds (read back in UTC, sub-millisecond
/// precision is dropped); unsigned integers are stored as their signed 64-bit pattern; presence as its
/// lower-case name; labels as a JSON object; status fields as the JSON text given.</para>
/// <para>Microsoft.Data.Sqlite does its I/O synchronously, so the awaited methods do their work on the
/// calling thread.</para>
/// <para>Errors: SQLite failures surface as <see cref="StoreException"/> naming the file and the cause;
/// a failed write is rolled back in full.</para>
/// </remarks>
public sealed partial class SqliteFleetStore : IFleetStore
{
    private readonly StoreFile _file;
    private readonly StoreWriter<BatchCommands> _writer;

    public SqliteFleetStore(SqliteStoreOptions options)
    {
        _file = new StoreFile(options);
        _writer = new StoreWriter<BatchCommands>(
            _file,
            Synchronous.Normal,
            static (connection, timeoutSeconds) => new BatchCommands(connection, timeoutSeconds),
            static (commands, transaction) => commands.Enlist(transaction),
            this);
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _file.Path;

    /// <inheritdoc/>
    /// <remarks>Creates the parent directory and the file, switches the file to WAL mode, and creates or
    /// migrates the schema (versioned with <c>PRAGMA user_version</c>). Throws <see cref="StoreException"/>
    /// when the directory cannot be created, the file is not a SQLite database, it is a SQLite database
    /// that is not a Drover store, or its schema is newer than this code.</remarks>
    public Task InitializeAsync(CancellationToken cancellationToken) => _writer.InitializeAsync(cancellationToken);

    /// <summary>Waits for a write in progress, then closes every connection of this store.</summary>
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    /// <summary>Test hook: the value of a pragma on the write connection (for example "synchronous").</summary>
    internal Task<object?> WriterPragmaAsync(string pragma, CancellationToken cancellationToken) =>
        _writer.PragmaAsync(pragma, cancellationToken);

    private void ThrowIfNotReady() => _writer.ThrowIfNotReady();
}
