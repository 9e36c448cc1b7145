namespace Drover.Storage;

/// <summary>One agent's row in the store.</summary>
public sealed record AgentRecord
{
    public required string Id { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The remote address of its latest session ("ip:port").</summary>
    public string Address { get; init; } = string.Empty;

    public string Version { get; init; } = string.Empty;

    /// <summary>The hub node that holds (or last held) its session.</summary>
    public string HubNode { get; init; } = string.Empty;

    public DateTimeOffset FirstSeen { get; init; }

    public DateTimeOffset LastSeen { get; init; }

    public Presence Presence { get; init; }

    /// <summary>The epoch of its latest session; presence changes from older sessions are ignored.</summary>
    public ulong SessionEpoch { get; init; }

    /// <summary>Its permanent place in the report schedule; the slot offset is derived from it.</summary>
    public long SlotOrdinal { get; init; }

    /// <summary>Why it was last disconnected or marked lost, if it was.</summary>
    public string? LastDisconnectReason { get; init; }

    /// <summary>Its latest status report, or null before its first report.</summary>
    public StatusRecord? Status { get; init; }
}

/// <summary>A status report as stored: the free-form fields are a JSON object.</summary>
/// <param name="Sequence">The agent's sequence number for this report.</param>
/// <param name="State">"unknown", "idle", "busy" or "draining".</param>
/// <param name="Progress">0-100, or null when the agent reported none.</param>
/// <param name="FieldsJson">The free-form fields as one JSON object, for example {"load1":0.5}.</param>
/// <param name="ReceivedAt">When the hub received it.</param>
public sealed record StatusRecord(ulong Sequence, string State, int? Progress, string FieldsJson, DateTimeOffset ReceivedAt);

/// <summary>One row of an agent's bounded status history.</summary>
public sealed record StatusSample(string AgentId, StatusRecord Status);
