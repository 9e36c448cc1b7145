namespace Drover.Agent;

/// <summary>Why a connection attempt or a session ended; classified once, where it ends.</summary>
public enum DisconnectReason
{
    /// <summary>Not ended (or not known).</summary>
    None = 0,

    /// <summary>The agent is stopping: its <c>RunAsync</c> token was cancelled.</summary>
    Stopped = 1,

    /// <summary>The TCP connection could not be made (refused, unreachable, DNS, connect timeout).</summary>
    ConnectFailed = 2,

    /// <summary>The hub did not answer hello in time.</summary>
    HandshakeTimeout = 3,

    /// <summary>The hub answered hello with refuse.</summary>
    Refused = 4,

    /// <summary>The hub closed the connection without a bye.</summary>
    HubClosed = 5,

    /// <summary>The connection failed (reset, write error).</summary>
    ConnectionLost = 6,

    /// <summary>The hub sent bytes or a message the protocol does not allow here.</summary>
    ProtocolError = 7,

    /// <summary>The hub sent bye (see the event's code).</summary>
    Bye = 8,

    /// <summary>The hub asked the agent to back off for a while.</summary>
    Backoff = 9,

    /// <summary>The hub redirected the agent to other hubs.</summary>
    Redirect = 10,

    /// <summary>The hub's TLS certificate did not pass <see cref="AgentOptions.Trust"/>, or the TLS handshake failed:
    /// nothing was sent to it.</summary>
    HubNotTrusted = 11,
}
