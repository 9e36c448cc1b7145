namespace Drover.Storage;

/// <summary>One connection event of an agent (docs/http-api.md, "Agent events"), kept with retention.
/// <see cref="Id"/> is the store's (0 in a record to write); <see cref="Kind"/> one of <see cref="AgentEventKinds"/>;
/// <see cref="Reason"/> the machine-readable part (a disconnect reason's name, the new presence, the credential's new
/// state), null when the kind has none; <see cref="Detail"/> the rest, for a person.</summary>
public sealed record AgentEventRecord(long Id, string AgentId, DateTimeOffset At, string Kind, string? Reason, string Detail);

/// <summary>The kinds of <see cref="AgentEventRecord"/>.</summary>
public static class AgentEventKinds
{
    /// <summary>A session opened; detail: address, version, session epoch.</summary>
    public const string SessionOpened = "session-opened";

    /// <summary>A session closed; reason: the disconnect reason's name.</summary>
    public const string SessionClosed = "session-closed";

    /// <summary>A hello for this (known) id was refused; reason: the refusal's code.</summary>
    public const string HelloRefused = "hello-refused";

    /// <summary>Presence changed (online, late, lost, stale, retired); reason: the new presence; detail: "from → to".</summary>
    public const string Presence = "presence";

    /// <summary>An operator decided on the id's credential; reason: approved, rejected or revoked.</summary>
    public const string Credential = "credential";

    /// <summary>Sessions from two sources took the id over from each other (two agents share it); detail: the sources.</summary>
    public const string IdFlap = "id-flap";
}

/// <summary>One stored status sample with its id (the cursor of history pages).</summary>
public sealed record HistoryEntry(long Id, StatusRecord Status);
