using Drover.Hub.Security;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Connections;

/// <summary>An agent key inside a session (docs/protocol.md, "Agent keys"): the key_expiry sent after the welcome,
/// key_rotate (the new key stored first, then answered with key_expiry), the labels an enrollment gives a hello, and the
/// session an operator's revoke closes.</summary>
internal static class SessionKeys
{
    /// <summary>Closes the open session of <paramref name="agentId"/>, if any, whose credential an operator revoked (or
    /// rejected): at once, with bye(CredentialRevoked).</summary>
    public static void CloseRevoked(Fleet.AgentRegistry registry, ILogger logger, string agentId)
    {
        if (registry.TryGet(agentId, out var entry) && entry.Session is { } session)
        {
            Log.AgentRevokedDisconnected(logger, LogText.Escape(agentId), session.RemoteAddress);
            session.Close(DisconnectReason.Revoked, ErrorCode.CredentialRevoked, $"agent {agentId}'s credential was revoked by an operator");
        }
    }

    /// <summary>A session's key_rotate: only for a bound id (its hello carried the key), with a well-formed new key.</summary>
    public static void OnKeyRotate(AgentKeys? keys, ILogger logger, AgentConnection connection, KeyRotate rotate)
    {
        if (keys?.Find(connection.Entry!.Id) is null)
        {
            throw new ProtocolException(ErrorCode.UnexpectedMessage, "key_rotate needs a session whose hello carried an agent_key");
        }

        if (!AgentIds.IsValidKey(rotate.NewKey, out var problem))
        {
            throw new ProtocolException(ErrorCode.Malformed, problem);
        }

        _ = RotateAsync(keys, logger, connection, rotate.NewKey);
    }

    /// <summary>After the welcome of a hello with a key: tells the agent when its key expires, if it does.</summary>
    public static void SendExpiry(AgentKeys? keys, AgentConnection connection, string agentId)
    {
        if (keys?.Find(agentId) is { State: AgentKeyStates.Approved, ExpiresAt: { } expires } key)
        {
            connection.Send(new KeyExpiry(key.BoundAt.ToUnixTimeMilliseconds(), expires.ToUnixTimeMilliseconds()));
        }
    }

    /// <summary>The hello with the labels its join token gives (they override the agent's own of the same names).</summary>
    public static Hello WithEnrolledLabels(AgentKeys? keys, Hello hello)
    {
        if (keys?.Find(hello.AgentId)?.Labels is not { Count: > 0 } enrolled)
        {
            return hello;
        }

        var labels = new Dictionary<string, string>(hello.Labels, StringComparer.Ordinal);
        foreach (var (name, value) in enrolled)
        {
            labels[name] = value;
        }

        return hello with { Labels = labels };
    }

    /// <summary>Binds the session's id to its new key (stored first) and answers key_expiry; a session whose credential is
    /// no longer approved is closed.</summary>
    private static async Task RotateAsync(AgentKeys keys, ILogger logger, AgentConnection connection, string newKey)
    {
        var agentId = connection.Entry!.Id;
        try
        {
            if (await keys.RotateAsync(agentId, newKey, CancellationToken.None).ConfigureAwait(false) is not { } rotated)
            {
                connection.Close(DisconnectReason.Revoked, ErrorCode.CredentialRevoked, $"agent {agentId} has no approved credential to rotate");
                return;
            }

            Log.AgentKeyRotated(logger, LogText.Escape(agentId), rotated.ExpiresAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "never");
            connection.Send(new KeyExpiry(rotated.BoundAt.ToUnixTimeMilliseconds(), rotated.ExpiresAt?.ToUnixTimeMilliseconds() ?? 0));
        }
        catch (Exception ex) when (ex is StoreException or ObjectDisposedException or InvalidOperationException)
        {
            // The old key stays bound; the agent keeps it and tries again at its next session.
            Log.Refused(logger, connection.RemoteAddress, LogText.Escape(agentId), ErrorCode.InternalError, "the store did not take the key rotation: " + ex.Message);
            connection.Close(DisconnectReason.InternalError, ErrorCode.InternalError, "the hub could not store the new key; keep the old one and retry later");
        }
    }
}
