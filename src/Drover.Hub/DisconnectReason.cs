namespace Drover.Hub;

/// <summary>Why a session ended: decided once, where the session ends, and recorded on the agent.</summary>
public enum DisconnectReason
{
    /// <summary>The agent closed the connection (or said bye).</summary>
    AgentClosed,
    /// <summary>The connection was reset or failed at the socket level.</summary>
    ConnectionReset,
    /// <summary>The agent sent bytes that break the protocol.</summary>
    ProtocolViolation,
    /// <summary>No hello arrived within the handshake timeout.</summary>
    HandshakeTimeout,
    /// <summary>The hello was refused (credential, id, version, admission).</summary>
    Refused,
    /// <summary>A newer session for the same agent id took over.</summary>
    Replaced,
    /// <summary>The agent missed too many reports; the liveness sweep closed it.</summary>
    MissedReports,
    /// <summary>The agent did not read what the hub sent; its send buffer filled.</summary>
    SlowConsumer,
    /// <summary>The hub is stopping.</summary>
    HubStopping,
    /// <summary>A bug in the hub; logged at error level.</summary>
    InternalError,
    /// <summary>The TLS handshake failed (a client that does not speak TLS, or refused the hub's certificate).</summary>
    TlsFailed,

    /// <summary>An operator revoked the agent's credential.</summary>
    Revoked,
}
