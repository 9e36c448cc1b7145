using System.Globalization;
using Drover.Protocol;

namespace Drover.Agent.Internal.Reports;

/// <summary>Load averages from /proc/loadavg and memory from /proc/meminfo, when readable. One snapshot
/// is shared by every agent in the process and re-read at most once per second, so a thousand simulated
/// agents do not read /proc a thousand times per interval.</summary>
internal static class SystemMetrics
{
    private const long RefreshMs = 1000;
    private static Snapshot? s_latest;

    public static void AppendTo(List<KeyValuePair<string, FieldValue>> fields)
    {
        var snapshot = s_latest;
        var now = Environment.TickCount64;
        if (snapshot is null || now - snapshot.TakenAt >= RefreshMs)
        {
            snapshot = Read(now);
            s_latest = snapshot;
        }

        fields.AddRange(snapshot.Fields);
    }

    internal static void ParseLoadAvg(string text, List<KeyValuePair<string, FieldValue>> fields)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 3
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load1)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var load5)
            && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var load15))
        {
            fields.Add(new("load1", FieldValue.From(load1)));
            fields.Add(new("load5", FieldValue.From(load5)));
            fields.Add(new("load15", FieldValue.From(load15)));
        }
    }

    internal static void ParseMemInfo(string text, List<KeyValuePair<string, FieldValue>> fields)
    {
        long? total = null;
        long? available = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                total = ParseKb(line);
            }
            else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                available = ParseKb(line);
            }
        }

        if (total is { } t)
        {
            fields.Add(new("mem_total_bytes", FieldValue.From(t)));
        }

        if (available is { } a)
        {
            fields.Add(new("mem_available_bytes", FieldValue.From(a)));
        }
    }

    private static long? ParseKb(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kb)
            ? kb * 1024
            : null;
    }

    private static Snapshot Read(long now)
    {
        var fields = new List<KeyValuePair<string, FieldValue>>(5);
        if (TryRead("/proc/loadavg") is { } loadavg)
        {
            ParseLoadAvg(loadavg, fields);
        }

        if (TryRead("/proc/meminfo") is { } meminfo)
        {
            ParseMemInfo(meminfo, fields);
        }

        return new Snapshot(now, fields.ToArray());
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed record Snapshot(long TakenAt, KeyValuePair<string, FieldValue>[] Fields);
}
