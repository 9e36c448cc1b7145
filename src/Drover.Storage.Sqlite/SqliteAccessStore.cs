using System.Globalization;
using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>The embedded default access store: the <c>tokens</c> and <c>audit_log</c> tables of the same SQLite file as
/// <see cref="SqliteFleetStore"/> and <see cref="SqliteJobStore"/> (migration 3 → 4 of the shared schema), on a write
/// connection of its own with <c>synchronous=FULL</c>: a token made or revoked and an audit entry survive a power loss
/// once the call returns. Times are unix milliseconds. Only the SHA-256 of a token's secret is stored.</summary>
public sealed class SqliteAccessStore : IAccessStore
{
    private const string TokenColumns = "id, kind, scope, name, secret_hash, created_at, created_by, expires_at, revoked_at, uses_left, labels, approval";

    private readonly StoreFile _file;
    private readonly StoreWriter<PreparedCommands> _writer;

    /// <summary>A store on <see cref="SqliteStoreOptions.Path"/>.</summary>
    public SqliteAccessStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _file = new StoreFile(options);
        _writer = new StoreWriter<PreparedCommands>(
            _file,
            Synchronous.Full,
            static (connection, timeoutSeconds) => new PreparedCommands(connection, timeoutSeconds),
            enlist: null,
            this);
    }

    /// <inheritdoc/>
    public Task InitializeAsync(CancellationToken cancellationToken) => _writer.InitializeAsync(cancellationToken);

    /// <summary>Waits for a write in progress, then closes every connection of this store.</summary>
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    /// <inheritdoc/>
    public Task AddTokenAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentException.ThrowIfNullOrEmpty(token.Id);
        _writer.ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                var command = commands.Get(
                    "INSERT INTO tokens (" + TokenColumns + ") VALUES ($id, $kind, $scope, $name, $secret_hash, $created_at, $created_by, $expires_at, $revoked_at, $uses_left, $labels, $approval)",
                    transaction);
                command.Bind("$id", SqliteType.Text, token.Id)
                    .Bind("$kind", SqliteType.Text, token.Kind)
                    .Bind("$scope", SqliteType.Text, token.Scope)
                    .Bind("$name", SqliteType.Text, token.Name)
                    .Bind("$secret_hash", SqliteType.Blob, token.SecretHash)
                    .Bind("$created_at", SqliteType.Integer, token.CreatedAt.ToUnixTimeMilliseconds())
                    .Bind("$created_by", SqliteType.Text, token.CreatedBy)
                    .Bind("$expires_at", SqliteType.Integer, token.ExpiresAt?.ToUnixTimeMilliseconds())
                    .Bind("$revoked_at", SqliteType.Integer, token.RevokedAt?.ToUnixTimeMilliseconds())
                    .Bind("$uses_left", SqliteType.Integer, token.UsesLeft)
                    .Bind("$labels", SqliteType.Text, token.Labels is null ? null : AgentRows.SerializeLabels(token.Labels))
                    .Bind("$approval", SqliteType.Text, token.Approval);
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            $"the token '{token.Id}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken)
    {
        _writer.ThrowIfNotReady();
        return _file.ReadAsync<IReadOnlyList<TokenRecord>>(
            async (connection, ct) =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT " + TokenColumns + " FROM tokens ORDER BY created_at, id";
                var tokens = new List<TokenRecord>();
                var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        tokens.Add(new TokenRecord(
                            reader.GetString(0),
                            reader.GetString(1),
                            reader.GetString(2),
                            reader.GetString(3),
                            (byte[])reader.GetValue(4),
                            FromUnixMs(reader.GetInt64(5)),
                            reader.GetString(6),
                            reader.IsDBNull(7) ? null : FromUnixMs(reader.GetInt64(7)),
                            reader.IsDBNull(8) ? null : FromUnixMs(reader.GetInt64(8)),
                            reader.IsDBNull(9) ? null : reader.GetInt32(9),
                            reader.IsDBNull(10) ? null : AgentRows.DeserializeLabels(reader.GetString(10)),
                            reader.IsDBNull(11) ? null : reader.GetString(11)));
                    }
                }

                return tokens;
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> RevokeTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ChangeOneRowAsync(
            "UPDATE tokens SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL",
            command => command.Bind("$id", SqliteType.Text, id).Bind("$at", SqliteType.Integer, at.ToUnixTimeMilliseconds()),
            $"the revocation of token '{id}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<AgentKeyRecord>> ListAgentKeysAsync(CancellationToken cancellationToken)
    {
        _writer.ThrowIfNotReady();
        return _file.ReadAsync<IReadOnlyList<AgentKeyRecord>>(
            async (connection, ct) =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT agent_id, key_hash, bound_at, bound_from, state, token_id, labels, changed_at, expires_at FROM agent_keys";
                var keys = new List<AgentKeyRecord>();
                var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        keys.Add(new AgentKeyRecord(
                            reader.GetString(0),
                            (byte[])reader.GetValue(1),
                            FromUnixMs(reader.GetInt64(2)),
                            reader.GetString(3),
                            reader.GetString(4),
                            reader.IsDBNull(5) ? null : reader.GetString(5),
                            reader.IsDBNull(6) ? null : AgentRows.DeserializeLabels(reader.GetString(6)),
                            reader.IsDBNull(7) ? null : FromUnixMs(reader.GetInt64(7)),
                            reader.IsDBNull(8) ? null : FromUnixMs(reader.GetInt64(8))));
                    }
                }

                return keys;
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task BindAgentKeysAsync(IReadOnlyList<AgentKeyRecord> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _writer.ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                var command = commands.Get(
                    "INSERT INTO agent_keys (agent_id, key_hash, bound_at, bound_from, state, token_id, labels, changed_at, expires_at) " +
                    "VALUES ($id, $hash, $at, $from, $state, $token_id, $labels, $changed_at, $expires_at) " +
                    "ON CONFLICT (agent_id) DO UPDATE SET key_hash = excluded.key_hash, bound_at = excluded.bound_at, bound_from = excluded.bound_from, " +
                    "state = excluded.state, token_id = excluded.token_id, labels = excluded.labels, changed_at = excluded.changed_at, expires_at = excluded.expires_at",
                    transaction);
                var useToken = commands.Get("UPDATE tokens SET uses_left = uses_left - 1 WHERE id = $id AND uses_left > 0", transaction);
                foreach (var key in keys)
                {
                    command.Bind("$id", SqliteType.Text, key.AgentId)
                        .Bind("$hash", SqliteType.Blob, key.KeyHash)
                        .Bind("$at", SqliteType.Integer, key.BoundAt.ToUnixTimeMilliseconds())
                        .Bind("$from", SqliteType.Text, key.BoundFrom)
                        .Bind("$state", SqliteType.Text, key.State)
                        .Bind("$token_id", SqliteType.Text, key.TokenId)
                        .Bind("$labels", SqliteType.Text, key.Labels is null ? null : AgentRows.SerializeLabels(key.Labels))
                        .Bind("$changed_at", SqliteType.Integer, key.ChangedAt?.ToUnixTimeMilliseconds())
                        .Bind("$expires_at", SqliteType.Integer, key.ExpiresAt?.ToUnixTimeMilliseconds());
                    await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    if (key.TokenId is not null)
                    {
                        useToken.Bind("$id", SqliteType.Text, key.TokenId);
                        await useToken.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                }

                return keys.Count;
            },
            $"{keys.Count} agent key bindings",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> SetAgentKeyStateAsync(string agentId, string state, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentId);
        ArgumentNullException.ThrowIfNull(state);
        return ChangeOneRowAsync(
            "UPDATE agent_keys SET state = $state, changed_at = $at WHERE agent_id = $id",
            command => command.Bind("$id", SqliteType.Text, agentId)
                .Bind("$state", SqliteType.Text, state)
                .Bind("$at", SqliteType.Integer, at.ToUnixTimeMilliseconds()),
            $"the state of agent '{agentId}'s key",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> RotateAgentKeyAsync(string agentId, byte[] keyHash, DateTimeOffset boundAt, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentId);
        ArgumentNullException.ThrowIfNull(keyHash);
        return ChangeOneRowAsync(
            "UPDATE agent_keys SET key_hash = $hash, bound_at = $at, expires_at = $expires_at WHERE agent_id = $id",
            command => command.Bind("$id", SqliteType.Text, agentId)
                .Bind("$hash", SqliteType.Blob, keyHash)
                .Bind("$at", SqliteType.Integer, boundAt.ToUnixTimeMilliseconds())
                .Bind("$expires_at", SqliteType.Integer, expiresAt?.ToUnixTimeMilliseconds()),
            $"the rotation of agent '{agentId}'s key",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> ForgetAgentKeyAsync(string agentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentId);
        return ChangeOneRowAsync(
            "DELETE FROM agent_keys WHERE agent_id = $id",
            command => command.Bind("$id", SqliteType.Text, agentId),
            $"forgetting the key of agent '{agentId}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<long> AppendAuditAsync(AuditRecord entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        _writer.ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                var command = commands.Get(
                    "INSERT INTO audit_log (at, actor, source, action, target, detail) VALUES ($at, $actor, $source, $action, $target, $detail) RETURNING id",
                    transaction);
                command.Bind("$at", SqliteType.Integer, entry.At.ToUnixTimeMilliseconds())
                    .Bind("$actor", SqliteType.Text, entry.Actor)
                    .Bind("$source", SqliteType.Text, entry.Source)
                    .Bind("$action", SqliteType.Text, entry.Action)
                    .Bind("$target", SqliteType.Text, entry.Target)
                    .Bind("$detail", SqliteType.Text, entry.Detail);
                return Convert.ToInt64(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            },
            $"the audit entry '{entry.Action}'",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> PruneAuditAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        _writer.ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                var command = commands.Get("DELETE FROM audit_log WHERE at < $older_than", transaction);
                command.Bind("$older_than", SqliteType.Integer, olderThan.ToUnixTimeMilliseconds());
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            "pruning the audit log",
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterId, int limit, CancellationToken cancellationToken) =>
        ReadAuditAsync(afterId, null, limit, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterId, DateTimeOffset? since, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        _writer.ThrowIfNotReady();
        return _file.ReadAsync<IReadOnlyList<AuditRecord>>(
            async (connection, ct) =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT id, at, actor, source, action, target, detail FROM audit_log WHERE id > $after AND at >= $since ORDER BY id LIMIT $limit";
                command.Bind("$after", SqliteType.Integer, afterId).Bind("$limit", SqliteType.Integer, limit)
                    .Bind("$since", SqliteType.Integer, since?.ToUnixTimeMilliseconds() ?? long.MinValue);
                var entries = new List<AuditRecord>();
                var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        entries.Add(new AuditRecord(
                            reader.GetInt64(0),
                            FromUnixMs(reader.GetInt64(1)),
                            reader.GetString(2),
                            reader.GetString(3),
                            reader.GetString(4),
                            reader.GetString(5),
                            reader.GetString(6)));
                    }
                }

                return entries;
            },
            cancellationToken);
    }

    /// <summary>Runs <paramref name="sql"/>, one statement on one row, with what <paramref name="bind"/> binds, in a transaction
    /// of its own; true when it changed a row. <paramref name="what"/> names it in a <see cref="StoreException"/>.</summary>
    private Task<bool> ChangeOneRowAsync(string sql, Action<SqliteCommand> bind, string what, CancellationToken cancellationToken)
    {
        _writer.ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                var command = commands.Get(sql, transaction);
                bind(command);
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
            },
            what,
            cancellationToken);
    }

    private static DateTimeOffset FromUnixMs(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
}
