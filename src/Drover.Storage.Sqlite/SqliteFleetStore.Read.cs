using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

public sealed partial class SqliteFleetStore
{
    /// <inheritdoc/>
    public Task<IReadOnlyList<AgentRecord>> LoadAgentsAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<AgentRecord>>(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = Schema.SelectLiveAgents;
                var agents = new List<AgentRecord>();
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        agents.Add(AgentRows.Read(reader));
                    }
                }

                return agents;
            },
            cancellationToken);

    /// <inheritdoc/>
    public Task<AgentRecord?> GetAgentAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = Schema.SelectAgent;
                command.Parameters.Add("$id", SqliteType.Text).Value = id;
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    return await reader.ReadAsync(ct).ConfigureAwait(false) ? AgentRows.Read(reader) : null;
                }
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Newest first by insertion order. <paramref name="limit"/> 0 returns an empty list.</remarks>
    public Task<IReadOnlyList<StatusSample>> GetStatusHistoryAsync(string agentId, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentId);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return ReadAsync<IReadOnlyList<StatusSample>>(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = Schema.SelectHistory;
                command.Parameters.Add("$agent_id", SqliteType.Text).Value = agentId;
                command.Parameters.Add("$limit", SqliteType.Integer).Value = limit;
                var samples = new List<StatusSample>(Math.Min(limit, 1024));
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        samples.Add(new StatusSample(agentId, AgentRows.ReadSample(reader)));
                    }
                }

                return samples;
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<HistoryEntry>> ReadStatusHistoryAsync(string agentId, DateTimeOffset? since, long? beforeId, int limit, CancellationToken cancellationToken) =>
        ReadPageAsync(Schema.SelectHistoryPage, agentId, since, beforeId, limit, reader => new HistoryEntry(reader.GetInt64(5), AgentRows.ReadSample(reader)), cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<AgentEventRecord>> ReadAgentEventsAsync(string agentId, DateTimeOffset? since, long? beforeId, int limit, CancellationToken cancellationToken) =>
        ReadPageAsync(
            Schema.SelectEventsPage,
            agentId,
            since,
            beforeId,
            limit,
            reader => new AgentEventRecord(
                reader.GetInt64(0),
                agentId,
                AgentRows.TimeFromColumn(reader.GetInt64(1)),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4)),
            cancellationToken);

    private Task<IReadOnlyList<T>> ReadPageAsync<T>(string sql, string agentId, DateTimeOffset? since, long? beforeId, int limit, Func<SqliteDataReader, T> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentId);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return ReadAsync<IReadOnlyList<T>>(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.Add("$agent_id", SqliteType.Text).Value = agentId;
                command.Parameters.Add("$before", SqliteType.Integer).Value = beforeId ?? long.MaxValue;
                command.Parameters.Add("$since", SqliteType.Integer).Value = since is { } at ? AgentRows.ToColumn(at) : long.MinValue;
                command.Parameters.Add("$limit", SqliteType.Integer).Value = limit;
                var items = new List<T>(Math.Min(limit, 1024));
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        items.Add(read(reader));
                    }
                }

                return items;
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Over every row, retired agents included. (0, 0) for an empty store.</remarks>
    public Task<(ulong MaxEpoch, long MaxSlotOrdinal)> GetCountersAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = Schema.SelectCounters;
                SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    await reader.ReadAsync(ct).ConfigureAwait(false);
                    return (AgentRows.FromColumn(reader.GetInt64(0)), reader.GetInt64(1));
                }
            },
            cancellationToken);
    /// <summary>Runs <paramref name="work"/> on a pooled read connection; see <see cref="StoreFile.ReadAsync"/>.</summary>
    private Task<T> ReadAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return _file.ReadAsync(work, cancellationToken);
    }
}
