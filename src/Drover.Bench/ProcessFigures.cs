using System.Globalization;

namespace Drover.Bench;

/// <summary>A process's resident memory, threads and CPU time, read from /proc/PID from outside.</summary>
public readonly record struct ProcessFigures(long RssKib, int Threads, TimeSpan CpuTime)
{
    private static readonly double TicksPerSecond = 100; // USER_HZ; 100 on every Linux we support

    public static ProcessFigures Read(int pid, string procRoot = "/proc")
    {
        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "status")))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return new ProcessFigures(rss, threads, ReadCpu(File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat"))));
    }

    /// <summary>utime + stime from a /proc/PID/stat line (fields 14 and 15, counted after the
    /// parenthesised command name, which may itself contain spaces).</summary>
    public static TimeSpan ReadCpu(string stat)
    {
        var afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var utime = long.Parse(afterName[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(afterName[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((utime + stime) / TicksPerSecond);
    }
}
