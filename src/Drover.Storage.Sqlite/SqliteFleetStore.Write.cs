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

        return _writer.InTransactionAsync(
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
        return _writer.InTransactionAsync(
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
}
