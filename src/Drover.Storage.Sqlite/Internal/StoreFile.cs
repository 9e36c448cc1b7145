using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>One store file and how both stores (<see cref="SqliteFleetStore"/>, <see cref="SqliteJobStore"/>)
/// connect to it: the write connection (unpooled, creates the file, WAL, the store's synchronous level,
/// busy timeout) and pooled read connections that see the last committed state. Each store keeps its own
/// writer (<see cref="StoreWriter{TCommands}"/>: write lock, connection, prepared commands); this class
/// holds what is the same for both.</summary>
internal sealed class StoreFile
{
    private readonly SqliteStoreOptions _options;
    private readonly string _writeConnectionString;
    private readonly string _readConnectionString;

    public StoreFile(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Path = System.IO.Path.GetFullPath(options.Path);
        TimeoutSeconds = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);

        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = TimeoutSeconds,
        }.ToString();

        // Readers never create the file, and come from Microsoft.Data.Sqlite's pool (cleared on dispose).
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWrite,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = TimeoutSeconds,
        }.ToString();
    }

    /// <summary>The full path of the database file.</summary>
    public string Path { get; }

    /// <summary>The busy timeout in whole seconds (command timeouts use it too).</summary>
    public int TimeoutSeconds { get; }

    public void CreateDirectory()
    {
        string? directory = System.IO.Path.GetDirectoryName(Path);
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
            throw new StoreException($"Cannot create the directory '{directory}' for the store '{Path}': {e.Message}", e);
        }
    }

    /// <summary>Opens the write connection: checks the file is ours (a foreign or newer file is refused
    /// untouched), then switches it to WAL and sets the pragmas, <c>synchronous</c> to <paramref name="synchronous"/>.</summary>
    public async Task<SqliteConnection> OpenWriterAsync(Synchronous synchronous, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // Look before changing anything: a foreign or newer file is refused untouched.
            await StoreSchema.CheckIsOursAsync(connection, Path, cancellationToken).ConfigureAwait(false);
            object? mode = await StoreSchema.ScalarAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);
            if (!string.Equals(mode as string, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new StoreException(
                    $"Cannot open the store '{Path}': SQLite could not switch it to write-ahead logging (journal mode is '{mode}'); " +
                    "the file system may not support the shared memory WAL needs.");
            }

            string level = synchronous == Synchronous.Full ? "FULL" : "NORMAL";
            await StoreSchema.ExecuteAsync(connection, "PRAGMA synchronous = " + level + ";", cancellationToken).ConfigureAwait(false);
            long busyMs = (long)_options.BusyTimeout.TotalMilliseconds;
            await StoreSchema.ExecuteAsync(connection, "PRAGMA busy_timeout = " + busyMs.ToString(CultureInfo.InvariantCulture) + ";", cancellationToken).ConfigureAwait(false);
            if (_options.MaxPageCount is { } maxPages)
            {
                await StoreSchema.ExecuteAsync(connection, "PRAGMA max_page_count = " + maxPages.ToString(CultureInfo.InvariantCulture) + ";", cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw StoreErrors.Open(Path, e);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> on a pooled read connection (not the write connection), so it
    /// sees the last committed state and does not wait for a write in progress.</summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_readConnectionString);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                throw StoreErrors.Open(Path, e);
            }

            try
            {
                return await work(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                throw StoreErrors.Read(Path, e);
            }
        }
    }

    /// <summary>Closes the pooled read connections (on dispose, before the writer, so that the writer is the
    /// last connection to close: SQLite then checkpoints the WAL into the main file and deletes it).</summary>
    public void ClearReadPool()
    {
        using var reader = new SqliteConnection(_readConnectionString);
        SqliteConnection.ClearPool(reader);
    }
}

/// <summary>How hard a store's write connection makes its commits durable (<c>PRAGMA synchronous</c> in WAL mode).</summary>
internal enum Synchronous
{
    /// <summary>No fsync at commit, only at checkpoints: a commit survives a crash of the process, but a power
    /// loss or operating-system crash may drop the last few (the database stays consistent).</summary>
    Normal = 1,

    /// <summary>The WAL is fsynced at every commit: a commit survives power loss too.</summary>
    Full = 2,
}
