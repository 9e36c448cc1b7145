namespace Drover.Bench.Internal;

/// <summary>Lock-free running maximum and minimum of a shared long. Each loop ends: it retries only while
/// another thread moved the value toward <c>value</c>, which can happen only finitely often.</summary>
internal static class Atomic
{
    public static void Max(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>The smallest value written; 0 in <paramref name="target"/> means "none yet".</summary>
    public static void MinNonZero(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (current == 0 || value < current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
