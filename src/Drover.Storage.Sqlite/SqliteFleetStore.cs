using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>The embedded default store: one SQLite file in write-ahead-log mode.</summary>
/// <remarks>
/// <para>Writes are serialized on one dedicated write connection (one writer at a time, guarded by a
/// semaphore); every <see cref="WriteBatchAsync"/> is one transaction whose statements are prepared
/// once and reused for every row. Reads use their own pooled connections and see the last committed
/// state, so they neither wait for nor disturb a write in progress.</para>
/// <para>Durability: <c>synchronous=NORMAL</c> in WAL mode. A committed batch survives a crash of the
/// process; a power loss or operating-system crash may drop the last few committed transactions (the
/// database stays consistent). That is the trade-off for not paying one fsync per batch.</para>
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

    /// <summary>Held by whoever uses <see cref="_writer"/> and <see cref="_commands"/>: initialize, writes, prune, dispose.</summary>
    private readonly StoreFile _file;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private BatchCommands? _commands;
    private volatile bool _initialized;
    private volatile bool _disposed;

    public SqliteFleetStore(SqliteStoreOptions options)
    {
        _file = new StoreFile(options);
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _file.Path;

    /// <inheritdoc/>
    /// <remarks>Creates the parent directory and the file, switches the file to WAL mode, and creates or
    /// migrates the schema (versioned with <c>PRAGMA user_version</c>). Throws <see cref="StoreException"/>
    /// when the directory cannot be created, the file is not a SQLite database, it is a SQLite database
    /// that is not a Drover store, or its schema is newer than this code.</remarks>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _file.CreateDirectory();
            if (_writer is null)
            {
                _writer = await _file.OpenWriterAsync(cancellationToken).ConfigureAwait(false);
            }

            await MigrateAsync(_writer, cancellationToken).ConfigureAwait(false);
            _commands ??= CreateCommands(_writer);
            _initialized = true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

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
            // The semaphore is not disposed: a call racing with dispose must get ObjectDisposedException, not hang.
            _writeLock.Release();
        }
    }

    private async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await StoreSchema.MigrateAsync(connection, _file.Path, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw StoreErrors.Open(_file.Path, e);
        }
    }

    private BatchCommands CreateCommands(SqliteConnection connection)
    {
        try
        {
            return new BatchCommands(connection, _file.TimeoutSeconds);
        }
        catch (SqliteException e)
        {
            throw StoreErrors.Open(_file.Path, e);
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

    /// <summary>Test hook: the value of a pragma on the write connection (for example "synchronous").</summary>
    internal async Task<object?> WriterPragmaAsync(string pragma, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            (SqliteConnection writer, _) = await EnsureWriterAsync(cancellationToken).ConfigureAwait(false);
            return await StoreSchema.ScalarAsync(writer, "PRAGMA " + pragma + ";", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
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
