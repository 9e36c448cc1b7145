using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Session;

/// <summary>The agent key presented in each hello and its rotation (docs/protocol.md, "Agent keys"). With a
/// <see cref="AgentOptions.KeyStore"/>, a hello presents the next key when a rotation is unconfirmed (the hub may have
/// stored it before its answer was lost): welcomed, the next key is committed; refused with <c>AgentKeyMismatch</c>, the
/// hub never got it, so it is dropped and the current key is tried. In a session, the hub's key_expiry says when the key
/// stops working; two thirds of the way there, plus a random tenth of the lifetime so that a fleet enrolled together does
/// not rotate together, the agent makes a next key, keeps it, and sends key_rotate; the key_expiry that answers commits
/// it. Without a store the fixed <see cref="AgentOptions.AgentKey"/> is presented and never rotated.</summary>
internal sealed class KeyRotation(AgentOptions options, ILogger logger)
{
    /// <summary>Waits no longer than this at once (Task.Delay's limit is about 49 days), then looks again.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    private readonly IAgentKeyStore? _store = options.KeyStore;
    private bool _helloUsedNext;
    private volatile bool _rotating;

    /// <summary>The key for the next hello.</summary>
    public string KeyForHello()
    {
        _rotating = false;
        if (_store is null)
        {
            return options.AgentKey;
        }

        var next = _store.Pending;
        _helloUsedNext = next is not null;
        return next ?? _store.Current;
    }

    /// <summary>Welcomed: a next key presented is the bound one now.</summary>
    public void OnWelcome()
    {
        if (_helloUsedNext)
        {
            _store!.CommitNext();
            _helloUsedNext = false;
            Log.KeyRotated(logger, options.AgentId, "at the welcome of its next key");
        }
    }

    /// <summary>Refused with <paramref name="code"/>: true when the refusal was for a next key the hub never got (dropped;
    /// the agent tries again at once with its current key) rather than for the agent.</summary>
    public bool DroppedUnknownNext(ErrorCode code)
    {
        if (code != ErrorCode.AgentKeyMismatch || !_helloUsedNext)
        {
            return false;
        }

        _store!.DropNext();
        _helloUsedNext = false;
        Log.NextKeyUnknown(logger, options.AgentId);
        return true;
    }

    /// <summary>The hub's key_expiry: commits a rotation it answers, and starts the wait for the next rotation.</summary>
    public void OnExpiry(AgentConnection connection, KeyExpiry expiry, CancellationToken sessionToken)
    {
        if (_rotating)
        {
            _store!.CommitNext();
            _rotating = false;
            Log.KeyRotated(logger, options.AgentId, $"the hub confirmed it; it expires at {DateTimeOffset.FromUnixTimeMilliseconds(expiry.ExpiresUnixMs):O}");
        }

        if (_store is null || expiry.ExpiresUnixMs == 0 || expiry.ExpiresUnixMs <= expiry.IssuedUnixMs)
        {
            return;
        }

        var lifetime = expiry.ExpiresUnixMs - expiry.IssuedUnixMs;
        var rotateAt = DateTimeOffset.FromUnixTimeMilliseconds(expiry.IssuedUnixMs + (lifetime * 2 / 3) + (long)(Random.Shared.NextDouble() * lifetime / 10));
        _ = RotateAtAsync(connection, rotateAt, sessionToken);
    }

    private async Task RotateAtAsync(AgentConnection connection, DateTimeOffset rotateAt, CancellationToken sessionToken)
    {
        var time = options.TimeProvider;
        try
        {
            while (time.GetUtcNow() < rotateAt)
            {
                var wait = rotateAt - time.GetUtcNow();
                await Task.Delay(wait < MaxWait ? wait : MaxWait, time, sessionToken).ConfigureAwait(false);
            }

            if (_rotating)
            {
                return;
            }

            var next = _store!.PrepareNext();
            _rotating = true;
            await connection.SendAsync(new KeyRotate(next), sessionToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The session ended: the next one gets its own key_expiry (and presents a next key that is kept).
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or ObjectDisposedException)
        {
            Log.KeyRotationFailed(logger, options.AgentId, ex.Message);
        }
    }
}
