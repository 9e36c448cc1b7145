using System.Text.Json.Serialization;

namespace Drover.Bench;

/// <summary>The bench's figures; <c>--json</c> prints exactly this, with snake_case names.</summary>
public sealed record BenchResult
{
    public string Mode { get; init; } = "interval";
    public int Agents { get; init; }
    public int Connected { get; init; }

    /// <summary>Agents the hub itself counts online after the idle period (warm-up agents are lost, not online).</summary>
    public int HubOnline { get; init; }
    public double ConnectSeconds { get; init; }
    public long HubRssBeforeKib { get; init; }
    public long HubRssAfterKib { get; init; }
    public double HubRssKibPerAgent { get; init; }
    public int HubThreads { get; init; }
    public uint IntervalMs { get; init; }
    public double DurationSeconds { get; init; }
    public long ReportsSent { get; init; }
    public long ReportsAcked { get; init; }
    public double ReportsPerSecond { get; init; }
    public double HubCpuSeconds { get; init; }
    public double HubCpuUsPerReport { get; init; }
    public double AckP50Ms { get; init; }
    public double AckP99Ms { get; init; }
    public double ArrivalsPeakToMean { get; init; }
    public IReadOnlyList<long> ArrivalsPerSecond { get; init; } = [];
    public long ReportsLost { get; init; }
    public long ReportsInFlightAtKill { get; init; }
    public double? ReconnectSeconds { get; init; }
    public double? HubRestartSeconds { get; init; }
    public int? AgentsGaveUp { get; init; }
    public int? LostDuringGrace { get; init; }

    /// <summary>After a kill: how many agents were back in each second after it (second 0 first).</summary>
    public IReadOnlyList<long> ReconnectedPerSecond { get; init; } = [];
    public long Reconnects { get; init; }
    /// <summary>The bench's own hub's log file, kept after the run.</summary>
    public string? HubLog { get; init; }

    public IReadOnlyList<string> Failures { get; init; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BenchResult))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
