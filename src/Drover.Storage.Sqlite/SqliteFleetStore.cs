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
    private readonly SqliteStoreOptions _options;
    private readonly string _path;
    private readonly string _writeConnectionString;
    private readonly string _readConnectionString;
    private readonly int _timeoutSeconds;

    /// <summary>Held by whoever uses <see cref="_writer"/> and <see cref="_commands"/>: initialize, writes, prune, dispose.</summary>
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private BatchCommands? _commands;
    private volatile bool _initialized;
    private volatile bool _disposed;

    public SqliteFleetStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _path = Path.GetFullPath(options.Path);
        _timeoutSeconds = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);

        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = _timeoutSeconds,
        }.ToString();

        // Readers never create the file, and come from Microsoft.Data.Sqlite's pool (cleared on dispose).
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWrite,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = _timeoutSeconds,
        }.ToString();
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _path;

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
            CreateDirectory();
            if (_writer is null)
            {
                _writer = await OpenWriterAsync(cancellationToken).ConfigureAwait(false);
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

            // Readers first, so that the writer is the last connection to close: SQLite then checkpoints
            // the WAL into the main file and deletes it.
            using (var reader = new SqliteConnection(_readConnectionString))
            {
                SqliteConnection.ClearPool(reader);
            }

            DropWriter();
        }
        finally
        {
            // The semaphore is not disposed: a call racing with dispose must get ObjectDisposedException, not hang.
            _writeLock.Release();
        }
    }

    private void CreateDirectory()
    {
        string? directory = Path.GetDirectoryName(_path);
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new StoreException($"Cannot create the directory '{directory}' for the store '{_path}': {e.Message}", e);
        }
    }

    private async Task<SqliteConnection> OpenWriterAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // Look before changing anything: a foreign or newer file is refused untouched.
            await StoreSchema.CheckIsOursAsync(connection, _path, cancellationToken).ConfigureAwait(false);
            object? mode = await StoreSchema.ScalarAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);
            if (!string.Equals(mode as string, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new StoreException(
                    $"Cannot open the store '{_path}': SQLite could not switch it to write-ahead logging (journal mode is '{mode}'); " +
                    "the file system may not support the shared memory WAL needs.");
            }

            await StoreSchema.ExecuteAsync(connection, "PRAGMA synchronous = NORMAL;", cancellationToken).ConfigureAwait(false);
            long busyMs = (long)_options.BusyTimeout.TotalMilliseconds;
            await StoreSchema.ExecuteAsync(connection, "PRAGMA busy_timeout = " + busyMs.ToString(System.Globalization.CultureInfo.InvariantCulture) + ";", cancellationToken).ConfigureAwait(false);
            if (_options.MaxPageCount is { } maxPages)
            {
                await StoreSchema.ExecuteAsync(connection, "PRAGMA max_page_count = " + maxPages.ToString(System.Globalization.CultureInfo.InvariantCulture) + ";", cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw StoreErrors.Open(_path, e);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await StoreSchema.MigrateAsync(connection, _path, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw StoreErrors.Open(_path, e);
        }
    }

    private BatchCommands CreateCommands(SqliteConnection connection)
    {
        try
        {
            return new BatchCommands(connection, _timeoutSeconds);
        }
        catch (SqliteException e)
        {
            throw StoreErrors.Open(_path, e);
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
            throw new InvalidOperationException($"The store '{_path}' is not initialized: call InitializeAsync first.");
        }
    }
}
