using System.Security.Cryptography;
using System.Text;
using Drover.Hub.Security;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Connections;

/// <summary>Who may be an agent of this hub (see docs/security.md, "Agent credentials"): an id bound to an agent key is let
/// in with that key alone, while its binding is approved; an unbound id is let in by a join token (which enrolls its key), by
/// the shared token (its key, if any, then binds on first use), or by nothing at all when the hub runs with open agents.</summary>
internal sealed partial class AgentSessions
{
    /// <summary>When an agent that waits for approval is told to try again.</summary>
    public static readonly TimeSpan PendingRetryAfter = TimeSpan.FromSeconds(10);

    /// <summary>A session's job_accepted, job_busy or key_rotate.</summary>
    public void OnSessionMessage(AgentConnection connection, Message message)
    {
        switch (message)
        {
            case JobAccepted accepted:
                Jobs.OnAccepted(connection, accepted);
                break;
            case JobBusy busy:
                Jobs.OnBusy(connection, busy);
                break;
            case KeyRotate rotate:
                SessionKeys.OnKeyRotate(AgentKeys, Logger, connection, rotate);
                break;
        }
    }

    /// <summary>Checks the hello's credential and returns the hello to go on with (carrying the labels its enrollment
    /// gives), or null when it was refused (and answered).</summary>
    private async ValueTask<Hello?> AdmitCredentialAsync(AgentConnection connection, Hello hello)
    {
        var keys = AgentKeys;
        if (keys?.Find(hello.AgentId) is not null)
        {
            return AdmitBound(connection, hello, keys.Check(hello.AgentId, hello.AgentKey, connection.RemoteAddress));
        }

        TokenRecord? token = null;
        var joinFailure = string.Empty;
        var join = JoinTokens?.TryTakeJoinUse(hello.Credential, out token, out joinFailure) ?? JoinTokenVerdict.NotJoin;
        if (join == JoinTokenVerdict.Taken && keys is not null)
        {
            return await EnrollAsync(connection, hello, keys, token!).ConfigureAwait(false);
        }

        var open = Options.OpenAgents;
        var matches = open || (join == JoinTokenVerdict.NotJoin && Options.Token.Length > 0
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(hello.Credential), Encoding.UTF8.GetBytes(Options.Token)));
        var failure = join == JoinTokenVerdict.Refused ? joinFailure
            : Options.Token.Length > 0 ? "wrong token: start the agent with a join token (drover tokens create --join) or the hub's --token"
            : "this hub lets in enrolled agents only: start the agent with a join token (drover tokens create --join)";
        if (!open && !PassesSourceCheck(connection, hello, matches, failure))
        {
            return null;
        }

        // In with the shared token or as an open hub: a key binds the id on first use.
        if (keys?.Check(hello.AgentId, hello.AgentKey, connection.RemoteAddress) is { } verdict && verdict != AgentKeyVerdict.NewlyBound && verdict != AgentKeyVerdict.Unbound)
        {
            return AdmitBound(connection, hello, verdict); // another hello bound the id a moment ago
        }

        return hello;
    }

    /// <summary>A hello for an id with a binding: in with the bound key while approved.</summary>
    private Hello? AdmitBound(AgentConnection connection, Hello hello, AgentKeyVerdict verdict)
    {
        switch (verdict)
        {
            case AgentKeyVerdict.Mismatch:
                RefuseKeyMismatch(connection, hello);
                return null;
            case AgentKeyVerdict.Matches when PassesSourceCheck(connection, hello, matches: true, string.Empty):
                return SessionKeys.WithEnrolledLabels(AgentKeys, hello);
            case AgentKeyVerdict.Matches:
                return null;
            case AgentKeyVerdict.Pending:
                RefusePending(connection, hello);
                return null;
            case AgentKeyVerdict.Expired:
                var expired = $"agent {hello.AgentId}'s key expired at {AgentKeys?.Find(hello.AgentId)?.ExpiresAt:O} without being rotated; to enroll again, an operator runs drover agents forget-key {hello.AgentId}";
                RefuseCredential(connection, hello, ErrorCode.CredentialRevoked, TimeSpan.Zero, expired);
                return null;
            default:
                var detail = $"agent {hello.AgentId}'s credential was revoked (or its enrollment rejected) by an operator; to enroll again, an operator runs drover agents forget-key {hello.AgentId}";
                RefuseCredential(connection, hello, ErrorCode.CredentialRevoked, TimeSpan.Zero, detail);
                return null;
        }
    }

    /// <summary>A live join token for an unbound id: binds the hello's key (approved, or pending for an operator), waits for
    /// the binding to be stored, and lets the agent in when it is approved.</summary>
    private async ValueTask<Hello?> EnrollAsync(AgentConnection connection, Hello hello, AgentKeys keys, TokenRecord token)
    {
        if (hello.AgentKey.Length == 0)
        {
            JoinTokens!.ReturnJoinUse(token.Id);
            const string NoKey = "a join token enrolls the agent's own key, and this hello carries none: use an agent that sends agent_key (see docs/protocol.md, Agent keys)";
            RefuseCredential(connection, hello, ErrorCode.AuthenticationFailed, TimeSpan.Zero, NoKey);
            return null;
        }

        if (!PassesSourceCheck(connection, hello, matches: true, string.Empty))
        {
            JoinTokens!.ReturnJoinUse(token.Id);
            return null;
        }

        var verdict = keys.Enroll(hello.AgentId, hello.AgentKey, connection.RemoteAddress, token);
        if (verdict is not (AgentKeyVerdict.NewlyBound or AgentKeyVerdict.Pending))
        {
            JoinTokens!.ReturnJoinUse(token.Id);
            return AdmitBound(connection, hello, verdict); // another hello of this id enrolled a moment ago
        }

        try
        {
            await keys.FlushAsync().WaitAsync(RegistrationTimeout, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.Refused(Logger, connection.RemoteAddress, LogText.Escape(hello.AgentId), ErrorCode.InternalError, "the store did not commit the enrollment in time");
            connection.Close(DisconnectReason.InternalError, ErrorCode.InternalError, "the hub could not store the enrollment; retry later");
            return null;
        }

        var state = verdict == AgentKeyVerdict.Pending ? AgentKeyStates.Pending : AgentKeyStates.Approved;
        Log.AgentEnrolled(Logger, LogText.Escape(hello.AgentId), connection.RemoteAddress, token.Id, state);
        if (verdict == AgentKeyVerdict.Pending)
        {
            RefusePending(connection, hello);
            return null;
        }

        return SessionKeys.WithEnrolledLabels(AgentKeys, hello);
    }

    /// <summary>Checks the credential's verdict together with its source's penalty for earlier wrong ones (one decision in
    /// <see cref="SourceLimits.Authenticate"/>); refuses the hello and returns false when it does not pass.</summary>
    private bool PassesSourceCheck(AgentConnection connection, Hello hello, bool matches, string failure)
    {
        var address = connection.RemoteIPAddress;
        var verdict = Sources.Authenticate(address, matches, out var retryAfter, out var failures);
        if (verdict == AuthVerdict.Accepted)
        {
            return true;
        }

        var ms = (long)retryAfter.TotalMilliseconds;
        var (code, detail) = verdict == AuthVerdict.Penalized
            ? (ErrorCode.RateLimited, $"{failures} wrong tokens from this address: its hellos are refused for {ms} ms more")
            : (ErrorCode.AuthenticationFailed, failure + (ms > 0 ? $"; after {failures} wrong tokens, hellos from this address are refused for {ms} ms" : string.Empty));
        RefuseCredential(connection, hello, code, retryAfter, detail);
        return false;
    }

    private static void RefusePending(AgentConnection connection, Hello hello) =>
        connection.Refuse(ErrorCode.PendingApproval, PendingRetryAfter,
            $"agent {hello.AgentId} is enrolled and waits for an operator's approval (drover agents approve {hello.AgentId}); retry after {PendingRetryAfter.TotalSeconds:0} s");

    /// <summary>Refuses a hello for its credential: logged at most once a minute per source
    /// (<see cref="ConnectionLog.AuthRefused"/>), then answered with <paramref name="code"/>.</summary>
    private void RefuseCredential(AgentConnection connection, Hello hello, ErrorCode code, TimeSpan retryAfter, string detail)
    {
        ConnectionLog.AuthRefused(SourceKey.From(connection.RemoteIPAddress), connection.RemoteAddress, LogText.Escape(hello.AgentId), code, LogText.Escape(detail, LogText.LongTextMaxLength));
        if (_registry.TryGet(hello.AgentId, out _))
        {
            // Only for an id the hub knows: unknown ids would let anyone fill the store with events.
            _registry.Events.Add(hello.AgentId, AgentEventKinds.HelloRefused, code.ToString(), $"from {connection.RemoteAddress}: {detail}");
        }

        connection.Refuse(code, retryAfter, detail);
    }

    private void RefuseKeyMismatch(AgentConnection connection, Hello hello)
    {
        var detail = hello.AgentKey.Length == 0
            ? $"agent id {hello.AgentId} is bound to an agent key and this hello carries none"
            : $"agent id {hello.AgentId} is bound to another agent key: another machine holds this id, or this agent lost its state directory (an operator can remove the binding: drover agents forget-key {hello.AgentId})";
        RefuseCredential(connection, hello, ErrorCode.AgentKeyMismatch, TimeSpan.Zero, detail);
    }
}
