namespace Drover.Hub.Fleet;

/// <summary>Counts hellos, and status reports per wall-clock second in a ring of the last
/// <see cref="WindowSeconds"/> seconds, lock-free on the report path.</summary>
internal sealed class FleetStats
{
    public const int WindowSeconds = 600;

    private readonly TimeProvider _time;
    private readonly long[] _counts = new long[WindowSeconds];
    private readonly long[] _stamps = new long[WindowSeconds];
    private long _totalReports;
    private long _hellos;

    public FleetStats(TimeProvider time) => _time = time;

    public long TotalReports => Interlocked.Read(ref _totalReports);

    /// <summary>Hellos received since start (the sweep watches it to see a connection burst settle).</summary>
    public long Hellos => Interlocked.Read(ref _hellos);

    public void RecordHello() => Interlocked.Increment(ref _hellos);

    public void RecordReport()
    {
        Interlocked.Increment(ref _totalReports);
        var second = _time.GetUtcNow().ToUnixTimeSeconds();
        var index = (int)(second % WindowSeconds);
        if (Volatile.Read(ref _stamps[index]) != second)
        {
            // First report of a new second in this cell: reset it. A racing increment from the old
            // second may be lost; these are statistics, not accounting.
            Volatile.Write(ref _counts[index], 0);
            Volatile.Write(ref _stamps[index], second);
        }

        Interlocked.Increment(ref _counts[index]);
    }

    /// <summary>Reports per second for each of the last <paramref name="seconds"/> complete seconds, oldest first.</summary>
    public long[] LastSeconds(int seconds)
    {
        seconds = Math.Clamp(seconds, 1, WindowSeconds - 1);
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var result = new long[seconds];
        for (var i = 0; i < seconds; i++)
        {
            var second = now - seconds + i;
            var index = (int)(second % WindowSeconds);
            result[i] = Volatile.Read(ref _stamps[index]) == second ? Volatile.Read(ref _counts[index]) : 0;
        }

        return result;
    }
}
