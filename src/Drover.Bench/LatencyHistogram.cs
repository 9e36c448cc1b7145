namespace Drover.Bench;

/// <summary>A lock-free latency histogram with buckets 2% wide (so a percentile is within 2% of the
/// truth) from 1 µs to about 100 s. Recorded from many receive loops at once.</summary>
public sealed class LatencyHistogram
{
    private const double Growth = 1.02;
    private static readonly double LogGrowth = Math.Log(Growth);
    private readonly long[] _counts = new long[1000];
    private long _total;
    private long _maxTicks;

    public long Count => Interlocked.Read(ref _total);

    /// <summary>The largest latency recorded, exactly (not a bucket edge); zero when empty.</summary>
    public TimeSpan Max => TimeSpan.FromTicks(Interlocked.Read(ref _maxTicks));

    public void Record(TimeSpan latency)
    {
        var micros = Math.Max(1.0, latency.TotalMicroseconds);
        var index = Math.Min(_counts.Length - 1, (int)(Math.Log(micros) / LogGrowth));
        Interlocked.Increment(ref _counts[index]);
        Interlocked.Increment(ref _total);
        Internal.Atomic.Max(ref _maxTicks, latency.Ticks);
    }

    /// <summary>The latency at <paramref name="percentile"/> (0-100), as the upper edge of its bucket, but never
    /// more than the largest latency recorded.</summary>
    public TimeSpan Percentile(double percentile)
    {
        var total = Count;
        if (total == 0)
        {
            return TimeSpan.Zero;
        }

        var rank = (long)Math.Ceiling(percentile / 100.0 * total);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                var edge = TimeSpan.FromMicroseconds(Math.Pow(Growth, i + 1));
                var max = Max;
                return max > TimeSpan.Zero && max < edge ? max : edge;
            }
        }

        return TimeSpan.FromMicroseconds(Math.Pow(Growth, _counts.Length));
    }
}
