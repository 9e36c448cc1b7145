using Drover.Storage;

namespace Drover.Hub.Fleet;

/// <summary>Decides when each agent reports. Every agent has a permanent slot ordinal (0, 1, 2, …, in
/// order of first registration); its offset in the interval is the ordinal's van der Corput fraction
/// (the bit-reversed ordinal: 0, 1/2, 1/4, 3/4, 1/8, …) times the interval. Any prefix of that
/// sequence is spread almost perfectly evenly, so N agents arrive at N / interval per second in every
/// second, not in random clumps; and the fraction, not the offset, is what an agent keeps, so a
/// stretched interval keeps the spread.</summary>
internal sealed class ReportSchedule
{
    private readonly uint _configuredMs;
    private readonly int _maxReportsPerSecond;
    private uint _currentMs;

    public ReportSchedule(TimeSpan configured, int maxReportsPerSecond)
    {
        _configuredMs = (uint)configured.TotalMilliseconds;
        _maxReportsPerSecond = maxReportsPerSecond;
        _currentMs = _configuredMs;
    }

    /// <summary>The interval agents are told now.</summary>
    public uint IntervalMs => Volatile.Read(ref _currentMs);

    public uint SlotOffsetMs(long ordinal) => SlotOffsetMs(ordinal, IntervalMs);

    public static uint SlotOffsetMs(long ordinal, uint intervalMs) => (uint)(Fraction(ordinal) * intervalMs);

    /// <summary>The van der Corput fraction of <paramref name="ordinal"/> in [0, 1).</summary>
    public static double Fraction(long ordinal) => (SlotOrder.ReverseBits((ulong)ordinal) >> 11) * (1.0 / (1UL << 53));

    /// <summary>The interval the fleet needs so that <paramref name="agents"/> / interval stays under the
    /// rate cap: never below the configured interval.</summary>
    public uint RequiredIntervalMs(int agents)
    {
        var needed = (ulong)agents * 1000UL / (ulong)_maxReportsPerSecond;
        return (uint)Math.Min(Math.Max(needed, _configuredMs), 24UL * 3600 * 1000);
    }

    /// <summary>Stretches the interval at once when the fleet outgrows it, by at least a quarter each
    /// time (a fleet that grows by a thousand agents a second is rescheduled a few times, not every
    /// second), and shrinks it back only when the fleet has fallen 20% below what the current one
    /// needs (no flapping). Returns true when the interval changed and agents must be told.</summary>
    public bool Update(int connectedAgents)
    {
        var required = RequiredIntervalMs(connectedAgents);
        var current = IntervalMs;
        if (required > current)
        {
            var stepped = (uint)Math.Min(Math.Max(required, current * 1.25), 24.0 * 3600 * 1000);
            Volatile.Write(ref _currentMs, stepped);
            return true;
        }

        if (required < current && required <= current * 0.8)
        {
            Volatile.Write(ref _currentMs, required);
            return true;
        }

        return false;
    }
}
