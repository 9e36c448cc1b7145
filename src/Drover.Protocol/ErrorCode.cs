namespace Drover.Protocol;

/// <summary>Reason codes carried by refuse and bye frames, and by <see cref="ProtocolException"/>.
/// Every code has a fixed meaning listed in docs/protocol.md.</summary>
public enum ErrorCode : ushort
{
    /// <summary>A normal close: nothing went wrong.</summary>
    None = 0,
    /// <summary>The bytes do not follow the protocol (a field runs past its frame, bad UTF-8, bad enum value).</summary>
    Malformed = 1,
    /// <summary>A frame's length prefix exceeds the receiver's maximum frame size.</summary>
    FrameTooLarge = 2,
    /// <summary>The message type byte is not one the receiver knows.</summary>
    UnknownMessageType = 3,
    /// <summary>A known message arrived where it is not allowed (for example status before hello).</summary>
    UnexpectedMessage = 4,
    /// <summary>No protocol version is common to both sides.</summary>
    UnsupportedVersion = 5,
    /// <summary>The agent id is empty, too long, or has characters outside [A-Za-z0-9._:@-].</summary>
    InvalidAgentId = 6,
    /// <summary>The credential was wrong.</summary>
    AuthenticationFailed = 7,
    /// <summary>The hello did not arrive in time.</summary>
    HandshakeTimeout = 8,
    /// <summary>A newer session for the same agent id took over this one.</summary>
    SessionReplaced = 9,
    /// <summary>The hub is admitting agents at a bounded rate; retry after the given delay.</summary>
    Overloaded = 10,
    /// <summary>The hub is shutting down; reconnect (after the given delay, if any).</summary>
    ShuttingDown = 11,
    /// <summary>A status report broke a limit (too many fields, field too long).</summary>
    InvalidStatus = 12,
    /// <summary>The peer sent nothing for longer than the idle limit.</summary>
    IdleTimeout = 13,
    /// <summary>The peer read too slowly and its outbound queue overflowed.</summary>
    SlowConsumer = 14,
    /// <summary>The hub holds as many agents as it is allowed to.</summary>
    CapacityReached = 15,
    /// <summary>A failure inside the hub; not the agent's fault.</summary>
    InternalError = 16,
    /// <summary>Too many connections from the agent's source address, too many failed authentications from it, or too
    /// many sessions of its agent id in a short time; reconnect no sooner than the retry-after.</summary>
    RateLimited = 17,

    /// <summary>The agent id is bound to another agent key than the one this hello carries (or carries none): another
    /// machine holds the id, or this agent lost its state directory. Retrying does not help: an operator forgets the old
    /// binding (<c>drover agents forget-key ID</c>) or the agent takes another id.</summary>
    AgentKeyMismatch = 18,

    /// <summary>The agent enrolled with a join token that holds its agents for an operator, who has not approved this one
    /// yet. Retry after the retry-after (the hub says 10 s), with the same key; an operator runs
    /// <c>drover agents approve ID</c>.</summary>
    PendingApproval = 19,

    /// <summary>The agent's credential was revoked, or its enrollment rejected, by an operator. Retrying does not help:
    /// an operator forgets the binding (<c>drover agents forget-key ID</c>) and the agent enrolls again.</summary>
    CredentialRevoked = 20,
}
