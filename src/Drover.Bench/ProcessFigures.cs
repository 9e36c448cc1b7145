using System.Globalization;

namespace Drover.Bench;

/// <summary>A process's resident memory, threads and CPU time, read from /proc/PID from outside, and the bytes
/// it caused to be written to storage (/proc/PID/io write_bytes; 0 where that file cannot be read).</summary>
public readonly record struct ProcessFigures(long RssKib, int Threads, TimeSpan CpuTime)
{
    /// <summary>Bytes this process caused to be sent to storage (write_bytes in /proc/PID/io).</summary>
    public long StorageWriteBytes { get; init; }

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

        var directory = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        return new ProcessFigures(rss, threads, ReadCpu(File.ReadAllText(Path.Combine(directory, "stat"))))
        {
            StorageWriteBytes = ReadStorageWrites(Path.Combine(directory, "io")),
        };
    }

    /// <summary>write_bytes from a /proc/PID/io file; 0 when it is missing or unreadable (it needs the same user).</summary>
    public static long ReadStorageWrites(string ioPath)
    {
        try
        {
            foreach (var line in File.ReadLines(ioPath))
            {
                if (line.StartsWith("write_bytes:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(12).Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return 0;
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
