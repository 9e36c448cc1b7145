using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Security;

/// <summary>What a hello's agent key says about its id (<see cref="AgentKeys.Check"/>).</summary>
internal enum AgentKeyVerdict
{
    /// <summary>No key presented and none bound: an agent that has no key (an older one); let in as before.</summary>
    Unbound,

    /// <summary>The key the id is bound to.</summary>
    Matches,

    /// <summary>The id had no key; it is bound to this one from now on.</summary>
    NewlyBound,

    /// <summary>The id is bound to another key, or the hello carries none: refuse.</summary>
    Mismatch,
}

/// <summary>Agent ids bound to agent keys, trust on first use (like SSH's known hosts, or Salt's auto-accepted minion
/// keys): the first hello of an id that carries a key binds the id to it; from then on a hello for that id is admitted only
/// with the same key, so whoever has the shared token cannot take over an id that is bound. The bindings (SHA-256 of the key)
/// are held in memory and written to the <see cref="IAccessStore"/> in the background, many per transaction (no fsync per
/// agent when a fleet first connects); a binding not yet written when the hub dies is made again at the agent's next hello.
/// An operator removes a binding (<see cref="ForgetAsync"/>) when an agent lost its state directory or its id moved.</summary>
internal sealed class AgentKeys(IAccessStore store, TimeProvider time, ILogger logger)
{
    private readonly ConcurrentDictionary<string, byte[]> _keys = new(StringComparer.Ordinal);
    private readonly Lock _pendingLock = new();
    private List<AgentKeyRecord> _pending = [];
    private Task _flushing = Task.CompletedTask;
    private long _refused;

    /// <summary>Ids bound now.</summary>
    public int Bound => _keys.Count;

    /// <summary>Hellos refused since start because their key did not match.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var key in await store.ListAgentKeysAsync(cancellationToken).ConfigureAwait(false))
        {
            _keys[key.AgentId] = key.KeyHash;
        }
    }

    public bool IsBound(string agentId) => _keys.ContainsKey(agentId);

    /// <summary>Checks (and on first use binds) <paramref name="agentId"/>'s key; <paramref name="source"/> is recorded
    /// with a new binding.</summary>
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

        var hash = Hash(key);
        if (!_keys.TryAdd(agentId, hash))
        {
            return Compare(_keys[agentId], key); // another hello of this id bound it a moment ago
        }

        lock (_pendingLock)
        {
            _pending.Add(new AgentKeyRecord(agentId, hash, time.GetUtcNow(), source));
            if (_flushing.IsCompleted)
            {
                _flushing = Task.Run(FlushPendingAsync);
            }
        }

        return AgentKeyVerdict.NewlyBound;
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

    private AgentKeyVerdict Compare(byte[] bound, string key)
    {
        if (key.Length > 0 && CryptographicOperations.FixedTimeEquals(bound, Hash(key)))
        {
            return AgentKeyVerdict.Matches;
        }

        Interlocked.Increment(ref _refused);
        return AgentKeyVerdict.Mismatch;
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
                // Held in memory still; lost at a restart, when the agents bind again at their next hellos.
                Log.AgentKeysNotStored(logger, batch.Count, ex.Message);
            }
        }
    }
}
