using Drover.Protocol;

namespace Drover.Agent;

/// <summary>Thrown by <see cref="DroverAgent.RunAsync"/> when a hub refuses the agent for a reason that
/// retrying cannot fix: <see cref="ErrorCode.AuthenticationFailed"/>, <see cref="ErrorCode.InvalidAgentId"/>,
/// <see cref="ErrorCode.UnsupportedVersion"/>, <see cref="ErrorCode.AgentKeyMismatch"/> or
/// <see cref="ErrorCode.CredentialRevoked"/> (also as the bye that ends a session when an operator revokes the agent).</summary>
public sealed class AgentRefusedException : Exception
{
    public AgentRefusedException(ErrorCode code, string reason, string hub)
        : base($"hub {hub} refused agent: {code}: {reason}")
    {
        Code = code;
        Reason = reason;
        Hub = hub;
    }

    public AgentRefusedException()
        : this(ErrorCode.None, "refused", "unknown")
    {
    }

    public AgentRefusedException(string message)
        : base(message)
    {
        Reason = message;
        Hub = "unknown";
    }

    public AgentRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = message;
        Hub = "unknown";
    }

    /// <summary>The hub's reason code.</summary>
    public ErrorCode Code { get; }

    /// <summary>The hub's reason text.</summary>
    public string Reason { get; }

    /// <summary>The hub ("host:port") that refused.</summary>
    public string Hub { get; }

    /// <summary>Whether a refusal with this code ends the agent's run instead of being retried.</summary>
    public static bool IsPermanent(ErrorCode code) =>
        code is ErrorCode.AuthenticationFailed or ErrorCode.InvalidAgentId or ErrorCode.UnsupportedVersion or ErrorCode.AgentKeyMismatch or ErrorCode.CredentialRevoked;
}
