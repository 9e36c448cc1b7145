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
    public Task WriteBatchAsync(IReadOnlyList<AgentRecord> agents, IReadOnlyList<StatusSample> history, CancellationToken cancellationToken) =>
        WriteBatchAsync(agents, history, [], cancellationToken);

    /// <inheritdoc/>
    /// <remarks>The events ride in the batch's transaction: they cost no transaction of their own.</remarks>
    public Task WriteBatchAsync(IReadOnlyList<AgentRecord> agents, IReadOnlyList<StatusSample> history, IReadOnlyList<AgentEventRecord> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agents);
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(events);
        ThrowIfNotReady();
        if (agents.Count == 0 && history.Count == 0 && events.Count == 0)
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

                for (int i = 0; i < events.Count; i++)
                {
                    await commands.InsertEventAsync(events[i], ct).ConfigureAwait(false);
                }

                return 0;
            },
            $"the batch of {agents.Count} agent rows, {history.Count} status samples and {events.Count} events",
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Runs on the write connection, in one transaction; reads are not blocked. With <paramref name="maxPerAgent"/>
    /// <see cref="int.MaxValue"/> only the age is checked, through the index on received_at (the count per agent needs a
    /// walk of the whole history).</remarks>
    public Task<int> PruneStatusHistoryAsync(int maxPerAgent, DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxPerAgent);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (_, transaction, ct) =>
            {
                using SqliteCommand command = transaction.Connection!.CreateCommand();
                command.CommandText = maxPerAgent == int.MaxValue ? Schema.PruneHistoryByAge : Schema.PruneHistory;
                command.CommandTimeout = _file.TimeoutSeconds;
                command.Parameters.Add("$older_than", SqliteType.Integer).Value = AgentRows.ToColumn(olderThan);
                command.Parameters.Add("$max_per_agent", SqliteType.Integer).Value = maxPerAgent;
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            "pruning the status history",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> DownsampleStatusHistoryAsync(DateTimeOffset receivedFrom, DateTimeOffset receivedBefore, TimeSpan bucket, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bucket, TimeSpan.FromMilliseconds(1));
        return ExecuteAsync(
            Schema.DownsampleHistory,
            command =>
            {
                command.Parameters.Add("$from", SqliteType.Integer).Value = AgentRows.ToColumn(receivedFrom);
                command.Parameters.Add("$to", SqliteType.Integer).Value = AgentRows.ToColumn(receivedBefore);
                command.Parameters.Add("$step", SqliteType.Integer).Value = (long)bucket.TotalMilliseconds;
            },
            "downsampling the status history",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> PruneAgentEventsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) =>
        ExecuteAsync(
            Schema.PruneEvents,
            command => command.Parameters.Add("$older_than", SqliteType.Integer).Value = AgentRows.ToColumn(olderThan),
            "pruning the agent events",
            cancellationToken);

    /// <summary>One statement in a transaction of its own on the write connection; returns the rows it changed.</summary>
    private Task<int> ExecuteAsync(string sql, Action<SqliteCommand> bind, string what, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (_, transaction, ct) =>
            {
                using SqliteCommand command = transaction.Connection!.CreateCommand();
                command.CommandText = sql;
                command.CommandTimeout = _file.TimeoutSeconds;
                bind(command);
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            what,
            cancellationToken);
    }
}
