namespace Drover.Agent.Internal.Reports;

/// <summary>The hub's report schedule as the agent sees it: report when hub time modulo the interval equals
/// the slot offset. Hub time is estimated as local time plus <see cref="ClockOffsetMs"/>, measured when the
/// welcome arrived. Pure: no clock, no I/O; immutable (a reschedule makes a new one).</summary>
internal sealed class ReportSchedule
{
    /// <summary>Intervals below this are raised to it, so a faulty hub cannot make the agent spin.</summary>
    public const uint MinIntervalMs = 100;

    /// <summary>The jitter added to each slot is at most this, and at most 1% of the interval.</summary>
    public const long MaxJitterCapMs = 20;

    public ReportSchedule(uint intervalMs, uint slotOffsetMs, long clockOffsetMs)
    {
        IntervalMs = Math.Max(intervalMs, MinIntervalMs);
        SlotOffsetMs = slotOffsetMs % IntervalMs;
        ClockOffsetMs = clockOffsetMs;
    }

    public long IntervalMs { get; }

    public long SlotOffsetMs { get; }

    /// <summary>Hub time minus local time, in milliseconds.</summary>
    public long ClockOffsetMs { get; }

    /// <summary>The largest jitter added to a slot: min(20 ms, interval / 100).</summary>
    public long MaxJitterMs => Math.Min(MaxJitterCapMs, IntervalMs / 100);

    public static long ClockOffset(long hubTimeUnixMs, DateTimeOffset localNow) => hubTimeUnixMs - localNow.ToUnixTimeMilliseconds();

    public ReportSchedule WithInterval(uint intervalMs, uint slotOffsetMs) => new(intervalMs, slotOffsetMs, ClockOffsetMs);

    public long HubNowMs(DateTimeOffset localNow) => localNow.ToUnixTimeMilliseconds() + ClockOffsetMs;

    /// <summary>The first hub time <c>t</c> with <c>t ≥ hubNowMs</c>, <c>t &gt; afterSlotMs</c> and
    /// <c>t ≡ SlotOffsetMs (mod IntervalMs)</c>. <paramref name="afterSlotMs"/> is the slot last used, so
    /// that waking exactly on a slot does not use it twice.</summary>
    public long NextSlotMs(long hubNowMs, long afterSlotMs)
    {
        var from = afterSlotMs == long.MinValue ? hubNowMs : Math.Max(hubNowMs, afterSlotMs + 1);
        var phase = Mod(from - SlotOffsetMs, IntervalMs);
        return phase == 0 ? from : from + (IntervalMs - phase);
    }

    /// <summary>The local delay from <paramref name="localNow"/> until hub time <paramref name="slotHubMs"/>.</summary>
    public TimeSpan DelayUntil(long slotHubMs, DateTimeOffset localNow)
    {
        var localTarget = DateTimeOffset.FromUnixTimeMilliseconds(slotHubMs - ClockOffsetMs);
        var delay = localTarget - localNow;
        return delay > TimeSpan.Zero ? delay : TimeSpan.Zero;
    }

    /// <summary>A random jitter in [0, <see cref="MaxJitterMs"/>] ms.</summary>
    public TimeSpan Jitter(Random random) => TimeSpan.FromMilliseconds(random.NextDouble() * MaxJitterMs);

    private static long Mod(long value, long modulus)
    {
        var r = value % modulus;
        return r < 0 ? r + modulus : r;
    }
}
