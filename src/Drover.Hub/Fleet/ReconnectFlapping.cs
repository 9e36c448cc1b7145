using System.Collections.Concurrent;

namespace Drover.Hub.Fleet;

/// <summary>Flapping detection per agent id, after EMQX's: an id that starts more than
/// <see cref="HubOptions.FlapMaxReconnects"/> sessions within <see cref="HubOptions.FlapWindow"/> is banned for
/// <see cref="HubOptions.FlapBan"/>, doubled for each further offence (at most <see cref="MaxBan"/>); while banned its
/// hellos are refused with a retry-after of the time left. Counted are hellos that passed the token check (an
/// unauthenticated client cannot get an id banned). Costs nothing for an id that did not reconnect within the window:
/// its first reconnect is seen from the registry's time of its previous session (<see cref="AgentEntry.AttachedTicks"/>),
/// and only then is a record made; <see cref="Prune"/> drops records that carry nothing any more.</summary>
/// <remarks>This is not <see cref="SessionTakeovers"/>: that one counts takeovers of a live session by another source
/// (two agents sharing an id), this one the rate of new sessions of one id, whatever their source.</remarks>
internal sealed class ReconnectFlapping
{
    /// <summary>The longest ban, however many offences.</summary>
    public static readonly TimeSpan MaxBan = TimeSpan.FromHours(1);

    /// <summary>An id's offences are forgotten this long after its last ban ended.</summary>
    public static readonly TimeSpan OffenceMemory = TimeSpan.FromHours(1);

    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time;
    private readonly int _max;
    private readonly long _window;
    private readonly long _ban;
    private readonly ConcurrentDictionary<string, Record> _ids = new(StringComparer.Ordinal);
    private long _bans;
    private long _refused;
    private long _lastPrune;

    public ReconnectFlapping(HubOptions options)
    {
        _time = options.TimeProvider;
        _max = options.FlapMaxReconnects;
        _window = options.FlapWindow.Ticks;
        _ban = options.FlapBan.Ticks;
    }

    /// <summary>Bans started since the hub started.</summary>
    public long Bans => Interlocked.Read(ref _bans);

    /// <summary>Hellos refused because their id was banned (the hello that started a ban included).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Ids with a record now (reconnected within the window, banned, or with offences to remember).</summary>
    public int Tracked => _ids.Count;

    /// <summary>Counts a hello for <paramref name="agentId"/>, whose previous session started at
    /// <paramref name="previousStartTicks"/> (0: none known). False when the id is banned, or this hello starts a ban:
    /// <paramref name="retryAfter"/> is the time left, and <paramref name="offence"/> is the ban's number for this id (0
    /// when the ban was already running).</summary>
    public bool TryConnect(string agentId, long previousStartTicks, out TimeSpan retryAfter, out int offence)
    {
        retryAfter = TimeSpan.Zero;
        offence = 0;
        if (_max == 0)
        {
            return true;
        }

        var now = _time.GetUtcNow().UtcTicks;
        if (!_ids.TryGetValue(agentId, out var record))
        {
            if (previousStartTicks == 0 || now - previousStartTicks > _window)
            {
                return true;
            }

            record = _ids.GetOrAdd(agentId, static (_, start) => new Record { WindowStart = start, Count = 1 }, previousStartTicks);
        }

        lock (record)
        {
            if (record.BannedUntil > now)
            {
                Interlocked.Increment(ref _refused);
                retryAfter = TimeSpan.FromTicks(record.BannedUntil - now);
                return false;
            }

            if (now - record.WindowStart > _window)
            {
                record.WindowStart = now;
                record.Count = 0;
            }

            if (++record.Count <= _max)
            {
                return true;
            }

            if (record.Offences > 0 && now - record.BannedUntil > OffenceMemory.Ticks)
            {
                record.Offences = 0;
            }

            var ban = record.Offences >= 20 ? MaxBan.Ticks : Math.Min(_ban << record.Offences, MaxBan.Ticks);
            record.Offences++;
            record.BannedUntil = now + ban;
            record.WindowStart = now + ban;
            record.Count = 0;
            offence = record.Offences;
            Interlocked.Increment(ref _bans);
            Interlocked.Increment(ref _refused);
            retryAfter = TimeSpan.FromTicks(ban);
            return false;
        }
    }

    /// <summary>Drops the records that carry nothing any more: window over, no ban, offences forgotten. At most every
    /// few seconds, so the sweep may call it every time.</summary>
    public void Prune()
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (now - Volatile.Read(ref _lastPrune) < PruneEvery.Ticks)
        {
            return;
        }

        Volatile.Write(ref _lastPrune, now);
        foreach (var (id, record) in _ids)
        {
            bool done;
            lock (record)
            {
                done = now - record.WindowStart > _window && record.BannedUntil <= now
                    && (record.Offences == 0 || now - record.BannedUntil > OffenceMemory.Ticks);
            }

            if (done)
            {
                // A hello racing with this removal starts a fresh record: at worst one reconnect is not counted.
                _ids.TryRemove(new KeyValuePair<string, Record>(id, record));
            }
        }
    }

    /// <summary>One id's reconnects. Guarded by its own lock.</summary>
    private sealed class Record
    {
        public long WindowStart;
        public int Count;
        public long BannedUntil;
        public int Offences;
    }
}
