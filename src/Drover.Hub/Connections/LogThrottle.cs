namespace Drover.Hub.Connections;

/// <summary>Turns many like events into few log lines. The first event of a key is logged at once (<see cref="Add"/>
/// returns true); the ones that follow are only counted, and <see cref="Drain"/> (called by the one-second sweep) hands
/// back each key's count once <see cref="Window"/> has passed since its previous line. So a key that keeps firing gets
/// one line a minute with the count since the previous one, a key that stops gets one last line, and after a quiet
/// window the key is forgotten (its next event is logged at once again).</summary>
/// <remarks>Keys are bounded: once <c>maxKeys</c> are tracked, events of new keys are counted under
/// <c>overflowKey</c>, so ten thousand source addresses cost at most <c>maxKeys</c> entries. One lock: the events it
/// counts (refused connections, handshake timeouts, accept errors) are rare next to status reports, which never
/// come here.</remarks>
internal sealed class LogThrottle<TKey>
    where TKey : notnull
{
    /// <summary>At most one line per key per window.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly int _maxKeys;
    private readonly TKey _overflowKey;
    private readonly Dictionary<TKey, Entry> _entries = [];
    private readonly Lock _lock = new();

    public LogThrottle(TimeProvider time, int maxKeys, TKey overflowKey)
    {
        _time = time;
        _maxKeys = maxKeys;
        _overflowKey = overflowKey;
    }

    /// <summary>Keys tracked now (for tests).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Counts one event of <paramref name="key"/>. True when it is the first of its key (log it now); otherwise
    /// it is counted, with <paramref name="detail"/> kept as the latest, for the next <see cref="Drain"/>.</summary>
    public bool Add(TKey key, string detail = "")
    {
        var now = _time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            if (!_entries.ContainsKey(key) && _entries.Count >= _maxKeys)
            {
                key = _overflowKey;
            }

            if (_entries.TryGetValue(key, out var entry))
            {
                _entries[key] = entry with { Count = entry.Count + 1, Detail = detail };
                return false;
            }

            _entries[key] = new Entry(now, 0, detail);
            return true;
        }
    }

    /// <summary>Hands back every key whose window is over and that counted events since its previous line: the key,
    /// how many, over how long, and the latest detail. Keys whose window passed without events are forgotten.</summary>
    public IReadOnlyList<Summary> Drain()
    {
        var now = _time.GetUtcNow().UtcTicks;
        List<Summary>? due = null;
        lock (_lock)
        {
            List<TKey>? quiet = null;
            foreach (var (key, entry) in _entries)
            {
                if (now - entry.SinceTicks < Window.Ticks)
                {
                    continue;
                }

                if (entry.Count == 0)
                {
                    (quiet ??= []).Add(key);
                    continue;
                }

                (due ??= []).Add(new Summary(key, entry.Count, TimeSpan.FromTicks(now - entry.SinceTicks), entry.Detail));
            }

            if (due is not null)
            {
                foreach (var summary in due)
                {
                    _entries[summary.Key] = new Entry(now, 0, string.Empty);
                }
            }

            if (quiet is not null)
            {
                foreach (var key in quiet)
                {
                    _entries.Remove(key);
                }
            }
        }

        return due is null ? [] : due;
    }

    /// <summary>One key's events since its previous line.</summary>
    public readonly record struct Summary(TKey Key, long Count, TimeSpan Over, string Detail);

    private readonly record struct Entry(long SinceTicks, long Count, string Detail);
}
