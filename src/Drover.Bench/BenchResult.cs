using System.Text.Json.Serialization;

namespace Drover.Bench;

/// <summary>The bench's figures; <c>--json</c> prints exactly this, with snake_case names.</summary>
public sealed record BenchResult
{
    public string Mode { get; init; } = "interval";

    /// <summary>True when the agent port was TLS.</summary>
    public bool Tls { get; init; }
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

    /// <summary>Bytes the hub sent to storage (/proc/PID/io write_bytes) during the report run, per acked report: the store's
    /// write amplification (the flush, its history rows, SQLite's WAL and checkpoints). Null in job mode, after a restart, or
    /// where /proc/PID/io cannot be read.</summary>
    public double? HubWriteBytesPerReport { get; init; }
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

    // Job mode (--jobs): null in the status-report modes.

    /// <summary>Jobs asked for (the measured run; the warm-up's are not counted anywhere below).</summary>
    public int? Jobs { get; init; }
    public int? FileSizeBytes { get; init; }

    /// <summary>Files per request (1: one raw-body request per file).</summary>
    public int? Batch { get; init; }

    /// <summary>The paced submission rate in jobs/s; null: unpaced (as fast as the hub takes them).</summary>
    public double? Rate { get; init; }
    public int? JobSlots { get; init; }
    public int? Submitters { get; init; }

    /// <summary>How many different files the jobs carried; null: every job its own.</summary>
    public int? DistinctFiles { get; init; }
    public long? JobsAccepted { get; init; }

    /// <summary>Jobs whose submission failed for good (the failures say why).</summary>
    public long? JobsRefused { get; init; }

    /// <summary>Jobs whose result the hub acknowledged to the agent (committed), each once.</summary>
    public long? JobsDone { get; init; }

    /// <summary>Accepted jobs without a result ack after the drain time. Must be 0.</summary>
    public long? JobsLost { get; init; }

    /// <summary>Jobs done per second, first submission started → last result acknowledged.</summary>
    public double? JobsPerSecond { get; init; }

    /// <summary>Jobs accepted per second, first submission started → last 201.</summary>
    public double? SubmitPerSecond { get; init; }
    public double? JobSeconds { get; init; }

    /// <summary>Submit start (its due time when paced) → result ack received by the agent.</summary>
    public double? JobP50Ms { get; init; }
    public double? JobP99Ms { get; init; }
    public double? JobMaxMs { get; init; }

    /// <summary>Submit start → job frame received by the agent.</summary>
    public double? DispatchP50Ms { get; init; }
    public double? DispatchP99Ms { get; init; }

    /// <summary>Result sent by the agent → its ack received (the hub's result commit).</summary>
    public double? ResultAckP50Ms { get; init; }
    public double? ResultAckP99Ms { get; init; }

    /// <summary>One POST /api/jobs, sent → answered (the hub's submit commit for the whole request).</summary>
    public double? RequestP50Ms { get; init; }
    public double? RequestP99Ms { get; init; }
    public long? Requests { get; init; }

    /// <summary>Requests answered 503 (queue full) and sent again after Retry-After.</summary>
    public long? RequestsRetried { get; init; }

    /// <summary>Hub CPU (utime + stime) from the first submission to the last result, per job done.</summary>
    public double? HubCpuUsPerJob { get; init; }
    /// <summary>The bench process's own CPU over the same time, per job (it shares the machine with the hub).</summary>
    public double? BenchCpuUsPerJob { get; init; }

    /// <summary>The machine's 1-minute load average as the measured run started (/proc/loadavg): other work on
    /// the same cores shows here.</summary>
    public double? LoadAverage { get; init; }
    /// <summary>Bytes the hub sent to storage (/proc/PID/io write_bytes) from the first submission to the last result, per job.</summary>
    public double? HubWriteKibPerJob { get; init; }
    public long? HubRssPeakKib { get; init; }
    public long? HubRssEndKib { get; init; }
    public long? HashMismatches { get; init; }

    /// <summary>Job frames that reached an agent while it still waited for the acks of job_slots results: the
    /// hub frees a slot when it commits a result, and may send the next job before that ack (not an error).</summary>
    public long? JobsBeforeAck { get; init; }

    /// <summary>The most jobs one agent held at once (result sent, ack not yet received), the new one included.</summary>
    public long? MaxJobsHeld { get; init; }

    /// <summary>Job frames for a job an agent had already run (another attempt).</summary>
    public long? JobsRedelivered { get; init; }
    public long? DuplicateResultAcks { get; init; }
    public long? UnexpectedResultAcks { get; init; }

    /// <summary>The hub's own counts (GET /api/stats → jobs) at the end, minus those before the run: done must equal jobs_accepted.</summary>
    public long? HubJobsDone { get; init; }
    public long? HubJobsDead { get; init; }

    /// <summary>Queued + running at the hub at the end (all of them, warm-up included): 0 when nothing is left over.</summary>
    public long? HubJobsOpen { get; init; }

    /// <summary>The bench's own hub's log file, kept after the run.</summary>
    public string? HubLog { get; init; }

    public IReadOnlyList<string> Failures { get; init; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BenchResult))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
