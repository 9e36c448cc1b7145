using System.Net;
using System.Runtime.InteropServices;

namespace Drover.Hub.Connections;

/// <summary>What the accept loop does with a new connection, by its source.</summary>
internal enum SourceVerdict
{
    /// <summary>Within the source's rate, and the source is not penalized: the connection goes on as usual.</summary>
    Allowed,

    /// <summary>Over the rate, or the source is penalized for failed authentications: the connection goes on to its hello,
    /// which is refused with RateLimited and a retry-after (so an honest agent learns when to come back).</summary>
    RefuseAtHello,

    /// <summary>The source keeps pushing (its queue is a minute ahead, or it ignored its penalty): reset at once.</summary>
    Reset,
}

/// <summary>The agent port's limits per source (<see cref="SourceKey"/>: an IPv4 address or an IPv6 /64), in one bounded
/// table: the connection rate (<see cref="HubOptions.ConnectionRatePerSource"/>) and the penalty for wrong tokens
/// (<see cref="HubOptions.AuthFailuresAllowed"/>).
/// <para>The rate is GCRA (a token bucket kept as one "theoretical arrival time", the hub's admission control's
/// algorithm) with a burst of <see cref="HubOptions.ConnectionBurstPerSource"/>. A connection beyond it is given the next
/// moment of the source's own queue, one 1/rate after the previous one, and its hello is refused with that moment as the
/// retry-after: a NAT'd site whose agents all reconnect is let in at the rate, each agent at its own moment, and a client
/// that keeps pushing sees its retry-after grow. Once the queue is <see cref="MaxQueue"/> ahead, the source's further
/// connections are reset at accept, before any TLS handshake or read.</para>
/// <para>Wrong tokens: each one counts against its source; beyond the allowance the source is blocked for 1 s, then 2, 4,
/// ... up to <see cref="HubOptions.AuthPenaltyMax"/>. The block and the token check are one decision under the lock
/// (<see cref="Authenticate"/>), so parallel hellos cannot race past it.</para>
/// <para>Memory: at most <see cref="MaxSources"/> entries of a few dozen bytes (about 4 MiB), each dropped by
/// <see cref="Prune"/> once it is indistinguishable from a source never seen. Beyond the bound, new sources are not tracked
/// but let through and counted (<see cref="Untracked"/>, sshd's <c>overflow:permissive</c>): refusing every new address
/// would let an attacker with many addresses lock the fleet out. One lock: connects and hellos are rare next to status
/// reports, which never come here, and an honest hello takes it only while some source has failures.</para></summary>
internal sealed class SourceLimits
{
    /// <summary>Sources tracked at once (sshd's PerSourcePenalties default, max-sources4).</summary>
    public const int MaxSources = 65_536;

    /// <summary>How far ahead a source's queue may reach; beyond it its connections are reset at accept.</summary>
    public static readonly TimeSpan MaxQueue = TimeSpan.FromMinutes(1);

    /// <summary>The first block for failed authentications; each further failure doubles it.</summary>
    public static readonly TimeSpan FirstPenalty = TimeSpan.FromSeconds(1);

    /// <summary>A source's failed authentications are forgotten this long after its last one.</summary>
    public static readonly TimeSpan FailureMemory = TimeSpan.FromMinutes(15);

    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time;
    private readonly long _spacing;
    private readonly long _tolerance;
    private readonly int _burst;
    private readonly IPNetwork[] _exempt;
    private readonly int _failuresAllowed;
    private readonly long _penaltyMax;
    private readonly Dictionary<SourceKey, Entry> _entries = [];
    private readonly Lock _lock = new();
    private int _withFailures;
    private long _lastPrune;
    private long _refusedOverRate;
    private long _resetOverRate;
    private long _authFailures;
    private long _penalties;
    private long _refusedPenalized;
    private long _untracked;

    public SourceLimits(HubOptions options)
    {
        _time = options.TimeProvider;
        Rate = options.ConnectionRatePerSource;
        _spacing = Rate > 0 ? TimeSpan.TicksPerSecond / Rate : 0;
        _burst = Math.Max(1, options.ConnectionBurstPerSource);
        _tolerance = _spacing * (_burst - 1);
        _exempt = [.. options.ConnectionRateExempt];
        _failuresAllowed = options.AuthFailuresAllowed;
        _penaltyMax = options.AuthPenaltyMax.Ticks;
    }

    /// <summary>Connections per second per source (0: not limited).</summary>
    public int Rate { get; }

    /// <summary>The bucket's size: connections a source may open at once.</summary>
    public int Burst => _burst;

    /// <summary>False when <see cref="OnAccept"/> would allow any connection without looking (no rate, no source with
    /// failures): the accept loop then does not even read the remote address.</summary>
    public bool Active => _spacing > 0 || Volatile.Read(ref _withFailures) > 0;

    /// <summary>Sources tracked now.</summary>
    public int Tracked
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Sources blocked for failed authentications now.</summary>
    public int Penalized
    {
        get
        {
            var now = _time.GetUtcNow().UtcTicks;
            lock (_lock)
            {
                return _entries.Values.Count(e => e.PenaltyUntil > now);
            }
        }
    }

    /// <summary>Connections over their source's rate whose hello was refused with a retry-after (counted at accept).</summary>
    public long RefusedOverRate => Interlocked.Read(ref _refusedOverRate);

    /// <summary>Connections reset at accept: their source's queue was full, or it kept connecting while penalized.</summary>
    public long ResetOverRate => Interlocked.Read(ref _resetOverRate);

    /// <summary>Hellos with a wrong token.</summary>
    public long AuthFailures => Interlocked.Read(ref _authFailures);

    /// <summary>Blocks started for failed authentications.</summary>
    public long Penalties => Interlocked.Read(ref _penalties);

    /// <summary>Hellos refused because their source was blocked for failed authentications.</summary>
    public long RefusedPenalized => Interlocked.Read(ref _refusedPenalized);

    /// <summary>Times a new source was let through untracked because the table was full.</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>True when <paramref name="address"/> is in <see cref="HubOptions.ConnectionRateExempt"/>.</summary>
    public bool IsExempt(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _exempt)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decides what becomes of a connection just accepted from <paramref name="address"/>. For
    /// <see cref="SourceVerdict.RefuseAtHello"/>, <paramref name="refuseUntilTicks"/> is the moment (UTC ticks) its hello's
    /// retry-after points at.</summary>
    public SourceVerdict OnAccept(IPAddress address, out long refuseUntilTicks)
    {
        refuseUntilTicks = 0;
        var limited = _spacing > 0 && !IsExempt(address);
        if (!limited && Volatile.Read(ref _withFailures) == 0)
        {
            return SourceVerdict.Allowed;
        }

        var key = SourceKey.From(address);
        var now = _time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(_entries, key);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry))
            {
                if (!limited)
                {
                    return SourceVerdict.Allowed;
                }

                if (_entries.Count >= MaxSources)
                {
                    Interlocked.Increment(ref _untracked);
                    return SourceVerdict.Allowed;
                }

                entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, key, out _);
            }

            var penalized = entry.PenaltyUntil > now;
            if (!penalized)
            {
                if (!limited)
                {
                    return SourceVerdict.Allowed;
                }

                var arrival = Math.Max(entry.Arrival, now);
                if (arrival - now <= _tolerance)
                {
                    entry.Arrival = arrival + _spacing;
                    entry.Pushes = 0;
                    return SourceVerdict.Allowed;
                }
            }

            if (penalized)
            {
                // Blocked for wrong tokens: its hello is refused by Authenticate, with the time left, unless the source
                // keeps connecting regardless (more than a burst's worth during the block).
                if (entry.Pushes >= _burst)
                {
                    Interlocked.Increment(ref _resetOverRate);
                    return SourceVerdict.Reset;
                }

                entry.Pushes++;
                return SourceVerdict.Allowed;
            }

            // Over the rate: the next moment of the source's queue, unless that is more than a minute ahead.
            var at = Math.Max(entry.QueueEnd, entry.Arrival - _tolerance);
            if (at - now > MaxQueue.Ticks)
            {
                Interlocked.Increment(ref _resetOverRate);
                return SourceVerdict.Reset;
            }

            entry.QueueEnd = at + _spacing;
            entry.Pushes++;
            Interlocked.Increment(ref _refusedOverRate);
            refuseUntilTicks = at;
            return SourceVerdict.RefuseAtHello;
        }
    }

    /// <summary>The token check of a hello from <paramref name="address"/>, with its penalty: a blocked source is refused
    /// whatever its token (<see cref="AuthVerdict.Penalized"/>, <paramref name="retryAfter"/> the time left); a wrong token is
    /// counted and may start a block (<paramref name="retryAfter"/> is then its length, else zero). One decision under the
    /// lock, so hellos sent in parallel cannot all pass the block check before their failures are counted.</summary>
    public AuthVerdict Authenticate(IPAddress address, bool tokenMatches, out TimeSpan retryAfter, out int failures)
    {
        retryAfter = TimeSpan.Zero;
        failures = 0;
        if (tokenMatches && Volatile.Read(ref _withFailures) == 0)
        {
            return AuthVerdict.Accepted;
        }

        var key = SourceKey.From(address);
        var now = _time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(_entries, key);
            var known = !System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry);
            if (known && entry.PenaltyUntil > now)
            {
                Interlocked.Increment(ref _refusedPenalized);
                retryAfter = TimeSpan.FromTicks(entry.PenaltyUntil - now);
                failures = entry.Failures;
                return AuthVerdict.Penalized;
            }

            if (tokenMatches)
            {
                return AuthVerdict.Accepted;
            }

            Interlocked.Increment(ref _authFailures);
            if (!known)
            {
                if (_entries.Count >= MaxSources)
                {
                    Interlocked.Increment(ref _untracked);
                    failures = 1;
                    return AuthVerdict.Failed;
                }

                entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, key, out _);
            }

            if (entry.Failures > 0 && now - entry.LastFailure > FailureMemory.Ticks)
            {
                entry.Failures = 0;
                _withFailures--;
            }

            if (entry.Failures++ == 0)
            {
                _withFailures++;
            }

            entry.LastFailure = now;
            failures = entry.Failures;
            var over = entry.Failures - _failuresAllowed;
            if (over <= 0 || _penaltyMax <= 0)
            {
                return AuthVerdict.Failed;
            }

            var penalty = over > 40 ? _penaltyMax : Math.Min(FirstPenalty.Ticks << (over - 1), _penaltyMax);
            entry.PenaltyUntil = now + penalty;
            entry.Pushes = 0;
            Interlocked.Increment(ref _penalties);
            retryAfter = TimeSpan.FromTicks(penalty);
            return AuthVerdict.Failed;
        }
    }

    /// <summary>Drops the sources that carry nothing any more (their bucket full again, no queue, no block, failures
    /// forgotten); at most every few seconds, so the sweep may call it every time.</summary>
    public void Prune()
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (now - Volatile.Read(ref _lastPrune) < PruneEvery.Ticks)
        {
            return;
        }

        Volatile.Write(ref _lastPrune, now);
        lock (_lock)
        {
            List<SourceKey>? done = null;
            foreach (var (key, entry) in _entries)
            {
                var failuresGone = entry.Failures == 0 || now - entry.LastFailure > FailureMemory.Ticks;
                if (entry.Arrival <= now && entry.QueueEnd <= now && entry.PenaltyUntil <= now && failuresGone)
                {
                    (done ??= []).Add(key);
                }
            }

            if (done is null)
            {
                return;
            }

            foreach (var key in done)
            {
                if (_entries.Remove(key, out var entry) && entry.Failures > 0)
                {
                    _withFailures--;
                }
            }
        }
    }

    /// <summary>One source. <see cref="Arrival"/>: GCRA's theoretical arrival time; <see cref="QueueEnd"/>: the moment the
    /// next connection over the rate is given; <see cref="Pushes"/>: connections refused since the last allowed one.</summary>
    private struct Entry
    {
        public long Arrival;
        public long QueueEnd;
        public long PenaltyUntil;
        public long LastFailure;
        public int Failures;
        public int Pushes;
    }
}

/// <summary>The outcome of <see cref="SourceLimits.Authenticate"/>.</summary>
internal enum AuthVerdict
{
    /// <summary>The token matches and the source is not blocked.</summary>
    Accepted,

    /// <summary>A wrong token (counted; it may have started a block).</summary>
    Failed,

    /// <summary>The source is blocked for earlier failures: refused before its token counts.</summary>
    Penalized,
}
