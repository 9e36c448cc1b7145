namespace Drover.Hub.Jobs;

/// <summary>Events per second over a sliding window of whole seconds (guarded by <see cref="JobTable.Lock"/>).</summary>
internal sealed class RateWindow(int seconds)
{
    private readonly long[] _counts = new long[seconds];
    private readonly long[] _second = new long[seconds];

    public void Add(long nowTicks)
    {
        var second = nowTicks / TimeSpan.TicksPerSecond;
        var slot = (int)(second % _counts.Length);
        if (_second[slot] != second)
        {
            _second[slot] = second;
            _counts[slot] = 0;
        }

        _counts[slot]++;
    }

    public double PerSecond(long nowTicks)
    {
        var second = nowTicks / TimeSpan.TicksPerSecond;
        long total = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            if (second - _second[i] < _counts.Length)
            {
                total += _counts[i];
            }
        }

        return (double)total / _counts.Length;
    }
}
