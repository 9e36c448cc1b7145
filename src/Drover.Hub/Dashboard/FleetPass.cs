using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Storage;

namespace Drover.Hub.Dashboard;

/// <summary>One pass over the registry for the live summary: agents by state, the connected agents' slots (what the
/// schedule predicts per second), how far after its slot each one's latest report arrived, and how many went silent
/// recently. Each entry is read under its lock, as the API reads it.</summary>
internal sealed class FleetPass
{
    private readonly int[] _byState = new int[Enum.GetValues<Presence>().Length];
    private readonly List<long> _slotOffsets = [];
    private readonly List<long> _lags = [];
    private uint _intervalMs;

    public int Total { get; private set; }

    public int Connected { get; private set; }

    /// <summary>Connected agents whose last report came within the interval and grace (online).</summary>
    public int OnTime { get; private set; }

    /// <summary>Connected agents silent past the interval and grace (late).</summary>
    public int Late { get; private set; }

    /// <summary>Agents now late or lost whose last frame came within <see cref="SilenceWindow"/>.</summary>
    public int WentSilent { get; private set; }

    /// <summary>Two intervals and the grace: long enough for a silent agent to have turned late or lost.</summary>
    public TimeSpan SilenceWindow { get; private set; }

    public static FleetPass Run(IEnumerable<AgentEntry> agents, DateTimeOffset now, uint intervalMs, TimeSpan lateGrace)
    {
        var pass = new FleetPass { _intervalMs = Math.Max(1, intervalMs), SilenceWindow = (2 * TimeSpan.FromMilliseconds(intervalMs)) + lateGrace };
        var silentSince = now.UtcTicks - pass.SilenceWindow.Ticks;
        foreach (var entry in agents)
        {
            Presence presence;
            bool connected;
            long lastSeen, statusAt, attached;
            lock (entry)
            {
                presence = entry.Presence;
                connected = entry.Session is not null;
                lastSeen = entry.LastSeenTicks;
                statusAt = entry.StatusPayload is null ? 0 : entry.StatusAtTicks;
                attached = entry.AttachedTicks;
            }

            pass.Add(entry.SlotOrdinal, presence, connected, lastSeen, statusAt, attached, silentSince);
        }

        pass._slotOffsets.Sort();
        pass._lags.Sort();
        return pass;
    }

    private void Add(long slotOrdinal, Presence presence, bool connected, long lastSeen, long statusAt, long attached, long silentSince)
    {
        Total++;
        _byState[(int)presence]++;
        if (presence is Presence.Late or Presence.Lost && lastSeen >= silentSince)
        {
            WentSilent++;
        }

        if (!connected)
        {
            return;
        }

        Connected++;
        if (presence == Presence.Online)
        {
            OnTime++;
        }
        else if (presence == Presence.Late)
        {
            Late++;
        }

        var offset = ReportSchedule.SlotOffsetMs(slotOrdinal, _intervalMs);
        _slotOffsets.Add(offset);

        // The report sent right after the welcome is off its slot by design (docs/protocol.md, Report schedule).
        if (statusAt > attached + TimeSpan.TicksPerSecond)
        {
            var receivedMs = (statusAt - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;
            _lags.Add(LagMs(receivedMs, offset, _intervalMs));
        }
    }

    /// <summary>How far after its nearest slot (<c>t mod interval == offset</c>) a report received at
    /// <paramref name="receivedUnixMs"/> came: in [-interval/2, interval/2).</summary>
    public static long LagMs(long receivedUnixMs, long offsetMs, uint intervalMs)
    {
        var lag = ((receivedUnixMs - offsetMs) % intervalMs + intervalMs) % intervalMs;
        return lag >= (intervalMs + 1) / 2 ? lag - intervalMs : lag;
    }

    public Dictionary<string, int> ByState()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var presence in Enum.GetValues<Presence>())
        {
            counts[presence.ToString().ToLowerInvariant()] = _byState[(int)presence];
        }

        return counts;
    }

    public LagPercentiles Lag()
    {
        if (_lags.Count == 0)
        {
            return new LagPercentiles(0, 0, 0, 0, 0);
        }

        long At(double quantile) => _lags[Math.Min(_lags.Count - 1, (int)Math.Ceiling(quantile * _lags.Count) - 1)];
        return new LagPercentiles(_lags.Count, At(0.50), At(0.90), At(0.99), _lags[^1]);
    }

    /// <summary>For each of the <paramref name="seconds"/> complete seconds before <paramref name="now"/> (oldest first, as
    /// <see cref="FleetStats.LastSeconds"/> counts arrivals), how many connected agents have a slot in it.</summary>
    public int[] PredictedPerSecond(DateTimeOffset now, int seconds)
    {
        var result = new int[seconds];
        var nowSecond = now.ToUnixTimeSeconds();
        for (var i = 0; i < seconds; i++)
        {
            var startMs = (nowSecond - seconds + i) * 1000;
            result[i] = SlotsIn(startMs, startMs + 1000);
        }

        return result;
    }

    /// <summary>Slots in [<paramref name="fromMs"/>, <paramref name="toMs"/>) of unix time, counting each agent once per
    /// interval it spans.</summary>
    private int SlotsIn(long fromMs, long toMs)
    {
        var count = 0;
        var interval = (long)_intervalMs;
        for (var start = fromMs; start < toMs;)
        {
            var position = start % interval;
            var end = Math.Min(toMs, start - position + interval);
            count += CountOffsets(position, position + (end - start));
            start = end;
        }

        return count;
    }

    /// <summary>Offsets in [<paramref name="from"/>, <paramref name="to"/>) (sorted list, two binary searches).</summary>
    private int CountOffsets(long from, long to) => LowerBound(to) - LowerBound(from);

    private int LowerBound(long value)
    {
        int low = 0, high = _slotOffsets.Count;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (_slotOffsets[middle] < value)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}
