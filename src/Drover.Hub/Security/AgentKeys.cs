using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Security;

/// <summary>What a hello's agent key says about its id (<see cref="AgentKeys.Check"/>).</summary>
internal enum AgentKeyVerdict
{
    /// <summary>No binding for the id (and, from <see cref="AgentKeys.Check"/>, no key presented): the id's agent has no
    /// credential of its own.</summary>
    Unbound,

    /// <summary>The key the id is bound to, approved.</summary>
    Matches,

    /// <summary>The id had no key; it is bound to this one from now on.</summary>
    NewlyBound,

    /// <summary>The id is bound to another key, or the hello carries none: refuse.</summary>
    Mismatch,

    /// <summary>The right key, enrolled with a join token that holds for an operator, not approved yet: refuse for now.</summary>
    Pending,

    /// <summary>The right key, revoked or rejected by an operator: refuse for good.</summary>
    Revoked,

    /// <summary>The right key, past its expiry (it was not rotated in time): refuse for good.</summary>
    Expired,
}

/// <summary>Agent ids bound to agent keys, the agents' own credentials: bound at enrollment with a join token
/// (<see cref="Enroll"/>), or on first use (like SSH's known hosts) when the agent got in with the hub's shared token or
/// the hub lets any agent in. From then on a hello for that id is admitted only with the same key, and only while the
/// binding is approved (<see cref="AgentKeyStates"/>), so whoever has a token cannot take over an id that is bound. The
/// bindings (SHA-256 of the key) are held in memory and written to the <see cref="IAccessStore"/> in the background, many
/// per transaction (no fsync per agent when a fleet first connects); an enrollment waits for its write
/// (<see cref="FlushAsync"/>) before the agent is let in. An operator approves, rejects or revokes a binding
/// (<see cref="SetStateAsync"/>, written first), or removes it (<see cref="ForgetAsync"/>) when an agent lost its state
/// directory or its id moved.</summary>
internal sealed class AgentKeys(IAccessStore store, TimeProvider time, ILogger logger, TimeSpan lifetime = default)
{
    private readonly ConcurrentDictionary<string, AgentKeyRecord> _keys = new(StringComparer.Ordinal);
    private readonly Lock _pendingLock = new();
    private List<AgentKeyRecord> _pending = [];
    private Task _flushing = Task.CompletedTask;
    private bool _flushRunning; // under _pendingLock: the loop clears it when it finds nothing more, before its task completes
    private long _refused;

    /// <summary>Ids bound now.</summary>
    public int Bound => _keys.Count;

    /// <summary>Hellos refused since start because their key did not match.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var key in await store.ListAgentKeysAsync(cancellationToken).ConfigureAwait(false))
        {
            _keys[key.AgentId] = key;
        }
    }

    public bool IsBound(string agentId) => _keys.ContainsKey(agentId);

    /// <summary>The binding of <paramref name="agentId"/>, if it has one.</summary>
    public AgentKeyRecord? Find(string agentId) => _keys.GetValueOrDefault(agentId);

    /// <summary>Every binding, by id.</summary>
    public IReadOnlyList<AgentKeyRecord> List() => [.. _keys.Values.OrderBy(key => key.AgentId, StringComparer.Ordinal)];

    /// <summary>Checks <paramref name="key"/> against the binding of <paramref name="agentId"/>, and binds an id that has
    /// none to a key on first use (<see cref="AgentKeyVerdict.Unbound"/> when there is neither); <paramref name="source"/> is
    /// recorded with a new binding. For an unbound id only after the hello got in (the shared token, or open agents).</summary>
    public AgentKeyVerdict Check(string agentId, string key, string source)
    {
        if (_keys.TryGetValue(agentId, out var bound))
        {
            return Compare(bound, key);
        }

        if (key.Length == 0)
        {
            return AgentKeyVerdict.Unbound;
        }

        var record = new AgentKeyRecord(agentId, Hash(key), time.GetUtcNow(), source);
        if (!_keys.TryAdd(agentId, record))
        {
            return Compare(_keys[agentId], key); // another hello of this id bound it a moment ago
        }

        Write(record);
        return AgentKeyVerdict.NewlyBound;
    }

    /// <summary>Binds <paramref name="agentId"/> to <paramref name="key"/> with the join token <paramref name="join"/>:
    /// approved, or pending when the token holds for an operator; the store write uses one of the token's uses. Returns
    /// <see cref="AgentKeyVerdict.NewlyBound"/> or <see cref="AgentKeyVerdict.Pending"/>, or the verdict on the binding
    /// another hello of this id made a moment ago. The caller waits for <see cref="FlushAsync"/> before letting it in.</summary>
    public AgentKeyVerdict Enroll(string agentId, string key, string source, TokenRecord join)
    {
        var pending = join.Approval == JoinApprovals.Hold;
        var now = time.GetUtcNow();
        var record = new AgentKeyRecord(
            agentId,
            Hash(key),
            now,
            source,
            pending ? AgentKeyStates.Pending : AgentKeyStates.Approved,
            join.Id,
            join.Labels,
            ExpiresAt: lifetime > TimeSpan.Zero ? now + lifetime : null);
        if (!_keys.TryAdd(agentId, record))
        {
            return Compare(_keys[agentId], key);
        }

        Write(record);
        return pending ? AgentKeyVerdict.Pending : AgentKeyVerdict.NewlyBound;
    }

    /// <summary>Sets the state of <paramref name="agentId"/>'s binding, in the store first; false when it has none.</summary>
    public async Task<bool> SetStateAsync(string agentId, string state, CancellationToken cancellationToken)
    {
        if (!_keys.TryGetValue(agentId, out var before))
        {
            return false;
        }

        var now = time.GetUtcNow();
        await FlushAsync().ConfigureAwait(false); // the binding's own write must land before its update
        if (!await store.SetAgentKeyStateAsync(agentId, state, now, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        _keys.AddOrUpdate(agentId, before with { State = state, ChangedAt = now }, (_, current) => current with { State = state, ChangedAt = now });
        return true;
    }

    /// <summary>Binds <paramref name="agentId"/>, whose session was let in with its approved key, to <paramref name="newKey"/>
    /// (in the store first), with a new lifetime if the old key had one (<see cref="AgentKeyRecord.ExpiresAt"/>). Returns the
    /// binding as it is now (the same when the new key is the bound one already: a rotation repeated after a lost answer),
    /// or null when the id has no approved binding any more.</summary>
    public async Task<AgentKeyRecord?> RotateAsync(string agentId, string newKey, CancellationToken cancellationToken)
    {
        if (!_keys.TryGetValue(agentId, out var bound) || bound.State != AgentKeyStates.Approved)
        {
            return null;
        }

        var hash = Hash(newKey);
        if (CryptographicOperations.FixedTimeEquals(bound.KeyHash, hash))
        {
            return bound;
        }

        var now = time.GetUtcNow();
        DateTimeOffset? expires = bound.ExpiresAt is null ? null : now + (lifetime > TimeSpan.Zero ? lifetime : bound.ExpiresAt.Value - bound.BoundAt);
        await FlushAsync().ConfigureAwait(false); // the binding's own write must land before its update
        if (!await store.RotateAgentKeyAsync(agentId, hash, now, expires, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var rotated = bound with { KeyHash = hash, BoundAt = now, ExpiresAt = expires };
        _keys[agentId] = rotated;
        return rotated;
    }

    /// <summary>Removes <paramref name="agentId"/>'s binding, in memory and in the store; false when it had none.</summary>
    public async Task<bool> ForgetAsync(string agentId, CancellationToken cancellationToken)
    {
        var removed = _keys.TryRemove(agentId, out _);
        await FlushAsync().ConfigureAwait(false); // a pending write of this binding must not land after the delete
        var stored = await store.ForgetAgentKeyAsync(agentId, cancellationToken).ConfigureAwait(false);
        return removed || stored;
    }

    /// <summary>Waits until every binding made so far is written (or failed and logged).</summary>
    public Task FlushAsync()
    {
        lock (_pendingLock)
        {
            return _flushing;
        }
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private AgentKeyVerdict Compare(AgentKeyRecord bound, string key)
    {
        if (key.Length == 0 || !CryptographicOperations.FixedTimeEquals(bound.KeyHash, Hash(key)))
        {
            Interlocked.Increment(ref _refused);
            return AgentKeyVerdict.Mismatch;
        }

        return bound.State switch
        {
            AgentKeyStates.Approved when bound.ExpiresAt is { } expires && expires <= time.GetUtcNow() => AgentKeyVerdict.Expired,
            AgentKeyStates.Approved => AgentKeyVerdict.Matches,
            AgentKeyStates.Pending => AgentKeyVerdict.Pending,
            _ => AgentKeyVerdict.Revoked,
        };
    }

    private void Write(AgentKeyRecord record)
    {
        lock (_pendingLock)
        {
            _pending.Add(record);
            if (!_flushRunning)
            {
                _flushRunning = true;
                _flushing = Task.Run(FlushPendingAsync);
            }
        }
    }

    private async Task FlushPendingAsync()
    {
        while (true)
        {
            List<AgentKeyRecord> batch;
            lock (_pendingLock)
            {
                if (_pending.Count == 0)
                {
                    _flushRunning = false;
                    return;
                }

                batch = _pending;
                _pending = [];
            }

            try
            {
                await store.BindAgentKeysAsync(batch, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StoreException or ObjectDisposedException or InvalidOperationException)
            {
                // Held in memory still; lost at a restart, when the agents bind (or enroll) again at their next hellos.
                Log.AgentKeysNotStored(logger, batch.Count, ex.Message);
            }
        }
    }
}
