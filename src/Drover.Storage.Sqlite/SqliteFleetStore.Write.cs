using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

public sealed partial class SqliteFleetStore
{
    /// <inheritdoc/>
    /// <remarks>One <c>BEGIN IMMEDIATE</c> transaction per call; the upsert and insert statements are
    /// prepared once per store and reused for every row. On any failure (SQLITE_FULL included, reported as
    /// a <see cref="StoreException"/> that says the store is full) or cancellation the whole batch is
    /// rolled back. Returns once committed: durable across a process crash (see the class remarks).</remarks>
    public Task WriteBatchAsync(IReadOnlyList<AgentRecord> agents, IReadOnlyList<StatusSample> history, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agents);
        ArgumentNullException.ThrowIfNull(history);
        ThrowIfNotReady();
        if (agents.Count == 0 && history.Count == 0)
        {
            return Task.CompletedTask;
        }

        return InWriteTransactionAsync(
            async (commands, _, ct) =>
            {
                for (int i = 0; i < agents.Count; i++)
                {
                    await commands.UpsertAsync(agents[i], ct).ConfigureAwait(false);
                }

                for (int i = 0; i < history.Count; i++)
                {
                    await commands.InsertSampleAsync(history[i], ct).ConfigureAwait(false);
                }

                return 0;
            },
            $"the batch of {agents.Count} agent rows and {history.Count} status samples",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Runs on the write connection, in one transaction; reads are not blocked.</remarks>
    public Task<int> PruneStatusHistoryAsync(int maxPerAgent, DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxPerAgent);
        ThrowIfNotReady();
        return InWriteTransactionAsync(
            async (_, transaction, ct) =>
            {
                using SqliteCommand command = transaction.Connection!.CreateCommand();
                command.CommandText = Schema.PruneHistory;
                command.CommandTimeout = _file.TimeoutSeconds;
                command.Parameters.Add("$older_than", SqliteType.Integer).Value = AgentRows.ToColumn(olderThan);
                command.Parameters.Add("$max_per_agent", SqliteType.Integer).Value = maxPerAgent;
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            "pruning the status history",
            cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> under the write lock in one transaction on the write
    /// connection, committing when it returns and rolling back when anything throws.</summary>
    private async Task<T> InWriteTransactionAsync<T>(
        Func<BatchCommands, SqliteTransaction, CancellationToken, Task<T>> work,
        string what,
        CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotReady();
            (SqliteConnection writer, BatchCommands commands) = await EnsureWriterAsync(cancellationToken).ConfigureAwait(false);

            SqliteTransaction transaction;
            try
            {
                transaction = writer.BeginTransaction();
            }
            catch (SqliteException e)
            {
                DropWriter();
                throw StoreErrors.Write(_file.Path, e, what);
            }

            commands.Enlist(transaction);
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
                _commands?.Enlist(null);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Rolls back. SQLite may already have rolled back on its own (it does for SQLITE_FULL and
    /// I/O errors); if the rollback itself fails, the connection's state is unknown, so it is dropped
    /// and the next write opens a fresh one.</summary>
    private void Abort(SqliteTransaction transaction)
    {
        try
        {
            transaction.Rollback();
            transaction.Dispose();
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            DropWriter();
        }
    }

    /// <summary>The write connection and its prepared commands, reopened if a failure dropped them.
    /// Caller holds the write lock.</summary>
    private async Task<(SqliteConnection Writer, BatchCommands Commands)> EnsureWriterAsync(CancellationToken cancellationToken)
    {
        if (_writer is null)
        {
            _writer = await _file.OpenWriterAsync(cancellationToken).ConfigureAwait(false);
        }

        _commands ??= CreateCommands(_writer);
        return (_writer, _commands);
    }
}
