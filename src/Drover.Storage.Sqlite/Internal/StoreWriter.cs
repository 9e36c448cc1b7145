using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The write side of one store (<see cref="SqliteFleetStore"/> with <see cref="BatchCommands"/>,
/// <see cref="SqliteJobStore"/> with <see cref="PreparedCommands"/>): one write connection and its prepared
/// commands, guarded by a semaphore, and the transaction runner every write goes through.</summary>
/// <remarks>
/// <para>Every write is one transaction (<c>BEGIN IMMEDIATE</c>): committed when the work returns, rolled back
/// in full when it throws. SQLite failures become <see cref="StoreException"/>s naming the file and the work.</para>
/// <para>A connection whose state is unknown (its <c>BEGIN</c> or rollback failed) is dropped with its
/// commands; the next write opens a fresh one.</para>
/// <para>Dispose waits for a write in progress, then closes the pooled readers and the writer (in that
/// order: the last connection to close checkpoints the WAL into the main file). The semaphore is not
/// disposed, so that a call racing with dispose gets <see cref="ObjectDisposedException"/> instead of hanging.</para>
/// </remarks>
internal sealed class StoreWriter<TCommands> : IAsyncDisposable
    where TCommands : class, IDisposable
{
    private readonly StoreFile _file;
    private readonly Synchronous _synchronous;
    private readonly Func<SqliteConnection, int, TCommands> _createCommands;
    private readonly Action<TCommands, SqliteTransaction?>? _enlist;
    private readonly object _owner;

    /// <summary>Held by whoever uses <see cref="_connection"/> and <see cref="_commands"/>.</summary>
    private readonly SemaphoreSlim _lock = new(1, 1);
    private SqliteConnection? _connection;
    private TCommands? _commands;
    private volatile bool _initialized;
    private volatile bool _disposed;

    /// <param name="file">The store file.</param>
    /// <param name="synchronous">The write connection's <c>PRAGMA synchronous</c>.</param>
    /// <param name="createCommands">Makes the commands on a (new) write connection, with the command timeout in seconds.</param>
    /// <param name="enlist">Attaches the commands to the transaction before the work runs and detaches them
    /// (null) after; null when the commands enlist themselves.</param>
    /// <param name="owner">The store, named by <see cref="ObjectDisposedException"/>.</param>
    public StoreWriter(
        StoreFile file,
        Synchronous synchronous,
        Func<SqliteConnection, int, TCommands> createCommands,
        Action<TCommands, SqliteTransaction?>? enlist,
        object owner)
    {
        _file = file;
        _synchronous = synchronous;
        _createCommands = createCommands;
        _enlist = enlist;
        _owner = owner;
    }

    /// <summary>Creates the directory and the file, opens the write connection and creates or migrates the
    /// schema. Safe to call again.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, _owner);
            _file.CreateDirectory();
            _connection ??= await _file.OpenWriterAsync(_synchronous, cancellationToken).ConfigureAwait(false);
            try
            {
                await StoreSchema.MigrateAsync(_connection, _file.Path, cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                throw StoreErrors.Open(_file.Path, e);
            }

            // After the migration: the commands are prepared against the tables it creates.
            await EnsureConnectionAsync(cancellationToken).ConfigureAwait(false);
            _initialized = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Throws when the store is disposed or not initialized.</summary>
    public void ThrowIfNotReady()
    {
        ObjectDisposedException.ThrowIf(_disposed, _owner);
        if (!_initialized)
        {
            throw new InvalidOperationException($"The store '{_file.Path}' is not initialized: call InitializeAsync first.");
        }
    }

    /// <summary>Runs <paramref name="work"/> under the write lock in one transaction on the write
    /// connection, committing when it returns and rolling back when anything throws. <paramref name="what"/>
    /// names the work in error messages.</summary>
    public async Task<T> InTransactionAsync<T>(
        Func<TCommands, SqliteTransaction, CancellationToken, Task<T>> work,
        string what,
        CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            (SqliteConnection connection, TCommands commands) = await EnsureConnectionAsync(cancellationToken).ConfigureAwait(false);

            SqliteTransaction transaction;
            try
            {
                transaction = connection.BeginTransaction();
            }
            catch (SqliteException e)
            {
                Drop();
                throw StoreErrors.Write(_file.Path, e, what);
            }

            _enlist?.Invoke(commands, transaction);
            try
            {
                T result = await work(commands, transaction, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                transaction.Dispose();
                return result;
            }
            catch (SqliteException e)
            {
                Abort(transaction);
                throw StoreErrors.Write(_file.Path, e, what);
            }
            catch
            {
                Abort(transaction);
                throw;
            }
            finally
            {
                if (_enlist is not null && _commands is not null)
                {
                    _enlist(_commands, null);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Test hook: the value of a pragma on the write connection (for example "synchronous").</summary>
    public async Task<object?> PragmaAsync(string pragma, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            (SqliteConnection connection, _) = await EnsureConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await StoreSchema.ScalarAsync(connection, "PRAGMA " + pragma + ";", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _initialized = false;
            _file.ClearReadPool();
            Drop();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The write connection and its commands, reopened if a failure dropped them. Caller holds the lock.</summary>
    private async Task<(SqliteConnection Connection, TCommands Commands)> EnsureConnectionAsync(CancellationToken cancellationToken)
    {
        _connection ??= await _file.OpenWriterAsync(_synchronous, cancellationToken).ConfigureAwait(false);
        if (_commands is null)
        {
            try
            {
                _commands = _createCommands(_connection, _file.TimeoutSeconds);
            }
            catch (SqliteException e)
            {
                throw StoreErrors.Open(_file.Path, e);
            }
        }

        return (_connection, _commands);
    }

    /// <summary>Rolls back. SQLite may already have rolled back on its own (it does for SQLITE_FULL and I/O
    /// errors); if the rollback itself fails, the connection's state is unknown, so it is dropped.</summary>
    private void Abort(SqliteTransaction transaction)
    {
        try
        {
            transaction.Rollback();
            transaction.Dispose();
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            Drop();
        }
    }

    /// <summary>Closes the write connection and its commands. Caller holds the lock.</summary>
    private void Drop()
    {
        _commands?.Dispose();
        _commands = null;
        _connection?.Dispose();
        _connection = null;
    }
}
