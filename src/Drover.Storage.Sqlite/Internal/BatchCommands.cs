using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The three statements of a write batch, prepared once on the write connection and reused for
/// every row of every batch: only parameter values change per row. Owned by the store; used only while
/// its write lock is held.</summary>
internal sealed class BatchCommands : IDisposable
{
    private readonly SqliteCommand _upsert;
    private readonly SqliteParameter _slotKey;
    private readonly SqliteParameter _id;
    private readonly SqliteParameter _labels;
    private readonly SqliteParameter _address;
    private readonly SqliteParameter _version;
    private readonly SqliteParameter _hubNode;
    private readonly SqliteParameter _firstSeen;
    private readonly SqliteParameter _lastSeen;
    private readonly SqliteParameter _presence;
    private readonly SqliteParameter _sessionEpoch;
    private readonly SqliteParameter _slotOrdinal;
    private readonly SqliteParameter _lastDisconnectReason;
    private readonly SqliteParameter _statusSeq;
    private readonly SqliteParameter _statusState;
    private readonly SqliteParameter _statusProgress;
    private readonly SqliteParameter _statusFields;
    private readonly SqliteParameter _statusAt;

    private readonly SqliteCommand _insertSample;
    private readonly SqliteParameter _sampleAgentId;
    private readonly SqliteParameter _sampleSeq;
    private readonly SqliteParameter _sampleState;
    private readonly SqliteParameter _sampleProgress;
    private readonly SqliteParameter _sampleFields;
    private readonly SqliteParameter _sampleReceivedAt;

    private readonly SqliteCommand _insertEvent;
    private readonly SqliteParameter _eventAgentId;
    private readonly SqliteParameter _eventAt;
    private readonly SqliteParameter _eventKind;
    private readonly SqliteParameter _eventReason;
    private readonly SqliteParameter _eventDetail;

    public BatchCommands(SqliteConnection connection, int commandTimeoutSeconds)
    {
        _upsert = connection.CreateCommand();
        _upsert.CommandText = Schema.UpsertAgent;
        _upsert.CommandTimeout = commandTimeoutSeconds;
        _slotKey = Add(_upsert, "$slot_key", SqliteType.Integer);
        _id = Add(_upsert, "$id", SqliteType.Text);
        _labels = Add(_upsert, "$labels", SqliteType.Text);
        _address = Add(_upsert, "$address", SqliteType.Text);
        _version = Add(_upsert, "$version", SqliteType.Text);
        _hubNode = Add(_upsert, "$hub_node", SqliteType.Text);
        _firstSeen = Add(_upsert, "$first_seen", SqliteType.Integer);
        _lastSeen = Add(_upsert, "$last_seen", SqliteType.Integer);
        _presence = Add(_upsert, "$presence", SqliteType.Text);
        _sessionEpoch = Add(_upsert, "$session_epoch", SqliteType.Integer);
        _slotOrdinal = Add(_upsert, "$slot_ordinal", SqliteType.Integer);
        _lastDisconnectReason = Add(_upsert, "$last_disconnect_reason", SqliteType.Text);
        _statusSeq = Add(_upsert, "$status_seq", SqliteType.Integer);
        _statusState = Add(_upsert, "$status_state", SqliteType.Text);
        _statusProgress = Add(_upsert, "$status_progress", SqliteType.Integer);
        _statusFields = Add(_upsert, "$status_fields", SqliteType.Text);
        _statusAt = Add(_upsert, "$status_at", SqliteType.Integer);
        _upsert.Prepare();

        _insertSample = connection.CreateCommand();
        _insertSample.CommandText = Schema.InsertSample;
        _insertSample.CommandTimeout = commandTimeoutSeconds;
        _sampleAgentId = Add(_insertSample, "$agent_id", SqliteType.Text);
        _sampleSeq = Add(_insertSample, "$seq", SqliteType.Integer);
        _sampleState = Add(_insertSample, "$state", SqliteType.Text);
        _sampleProgress = Add(_insertSample, "$progress", SqliteType.Integer);
        _sampleFields = Add(_insertSample, "$fields", SqliteType.Text);
        _sampleReceivedAt = Add(_insertSample, "$received_at", SqliteType.Integer);
        _insertSample.Prepare();

        _insertEvent = connection.CreateCommand();
        _insertEvent.CommandText = Schema.InsertEvent;
        _insertEvent.CommandTimeout = commandTimeoutSeconds;
        _eventAgentId = Add(_insertEvent, "$agent_id", SqliteType.Text);
        _eventAt = Add(_insertEvent, "$at", SqliteType.Integer);
        _eventKind = Add(_insertEvent, "$kind", SqliteType.Text);
        _eventReason = Add(_insertEvent, "$reason", SqliteType.Text);
        _eventDetail = Add(_insertEvent, "$detail", SqliteType.Text);
        _insertEvent.Prepare();
    }

    /// <summary>Attaches both commands to the batch's transaction, or detaches them (null).</summary>
    public void Enlist(SqliteTransaction? transaction)
    {
        _upsert.Transaction = transaction;
        _insertSample.Transaction = transaction;
        _insertEvent.Transaction = transaction;
    }

    public Task<int> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        if (string.IsNullOrEmpty(agent.Id))
        {
            throw new ArgumentException("An agent record has no id.", nameof(agent));
        }

        _id.Value = agent.Id;
        _labels.Value = AgentRows.SerializeLabels(agent.Labels);
        _address.Value = agent.Address ?? string.Empty;
        _version.Value = agent.Version ?? string.Empty;
        _hubNode.Value = agent.HubNode ?? string.Empty;
        _firstSeen.Value = AgentRows.ToColumn(agent.FirstSeen);
        _lastSeen.Value = AgentRows.ToColumn(agent.LastSeen);
        _presence.Value = AgentRows.PresenceName(agent.Presence);
        _sessionEpoch.Value = AgentRows.ToColumn(agent.SessionEpoch);
        _slotOrdinal.Value = agent.SlotOrdinal;
        _slotKey.Value = SlotOrder.Key(agent.SlotOrdinal);
        _lastDisconnectReason.Value = (object?)agent.LastDisconnectReason ?? DBNull.Value;

        if (agent.Status is { } status)
        {
            _statusSeq.Value = AgentRows.ToColumn(status.Sequence);
            _statusState.Value = status.State ?? string.Empty;
            _statusProgress.Value = status.Progress is { } progress ? progress : DBNull.Value;
            _statusFields.Value = status.FieldsJson ?? "{}";
            _statusAt.Value = AgentRows.ToColumn(status.ReceivedAt);
        }
        else
        {
            _statusSeq.Value = DBNull.Value;
            _statusState.Value = DBNull.Value;
            _statusProgress.Value = DBNull.Value;
            _statusFields.Value = DBNull.Value;
            _statusAt.Value = DBNull.Value;
        }

        return _upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task<int> InsertSampleAsync(StatusSample sample, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sample);
        if (string.IsNullOrEmpty(sample.AgentId) || sample.Status is null)
        {
            throw new ArgumentException("A status sample has no agent id or no status.", nameof(sample));
        }

        StatusRecord status = sample.Status;
        _sampleAgentId.Value = sample.AgentId;
        _sampleSeq.Value = AgentRows.ToColumn(status.Sequence);
        _sampleState.Value = status.State ?? string.Empty;
        _sampleProgress.Value = status.Progress is { } progress ? progress : DBNull.Value;
        _sampleFields.Value = status.FieldsJson ?? "{}";
        _sampleReceivedAt.Value = AgentRows.ToColumn(status.ReceivedAt);
        return _insertSample.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task<int> InsertEventAsync(AgentEventRecord agentEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentEvent);
        if (string.IsNullOrEmpty(agentEvent.AgentId) || string.IsNullOrEmpty(agentEvent.Kind))
        {
            throw new ArgumentException("An agent event has no agent id or no kind.", nameof(agentEvent));
        }

        _eventAgentId.Value = agentEvent.AgentId;
        _eventAt.Value = AgentRows.ToColumn(agentEvent.At);
        _eventKind.Value = agentEvent.Kind;
        _eventReason.Value = (object?)agentEvent.Reason ?? DBNull.Value;
        _eventDetail.Value = agentEvent.Detail ?? string.Empty;
        return _insertEvent.ExecuteNonQueryAsync(cancellationToken);
    }

    public void Dispose()
    {
        _upsert.Dispose();
        _insertSample.Dispose();
        _insertEvent.Dispose();
    }

    private static SqliteParameter Add(SqliteCommand command, string name, SqliteType type)
    {
        var parameter = new SqliteParameter(name, type) { Value = DBNull.Value };
        command.Parameters.Add(parameter);
        return parameter;
    }
}
