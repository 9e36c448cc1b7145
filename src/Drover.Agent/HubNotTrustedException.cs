namespace Drover.Agent;

/// <summary>The hub's TLS certificate did not pass the agent's <see cref="HubTrust"/> (or the TLS handshake failed):
/// nothing was sent to it. The message says why, in one line.</summary>
public sealed class HubNotTrustedException : Exception
{
    public HubNotTrustedException()
    {
    }

    public HubNotTrustedException(string message)
        : base(message)
    {
    }

    public HubNotTrustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
