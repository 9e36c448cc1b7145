using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Api;

/// <summary>The <c>summary</c> event of <c>GET /api/live</c>, once a second: the fleet, how its reports arrive, the agent
/// port, the hub process, the store and the jobs (docs/http-api.md, Live updates).</summary>
public sealed record LiveSummary(
    DateTimeOffset At,
    string HubId,
    DateTimeOffset StartedAt,
    bool RestartGrace,
    uint IntervalMs,
    int Agents,
    int Connected,
    Dictionary<string, int> ByState,
    ArrivalHealth Arrivals,
    LiveConnections Connections,
    LiveProcess Process,
    LiveStore Store,
    LiveJobs Jobs);

/// <summary>Whether reports arrive as the slots predict: per second over the last <c>Window</c> seconds (oldest first),
/// the reports that arrived beside those the connected agents' slots predict; the share of connected agents whose last
/// report came within the interval and grace (<c>online</c> among <c>online</c> + <c>late</c>); percentiles of how far
/// after its slot each connected agent's latest report arrived; and a warning when many agents went silent at once.</summary>
public sealed record ArrivalHealth(
    int Window,
    long[] Arrived,
    int[] Predicted,
    double ReportsPerSecond,
    double PredictedPerSecond,
    double OnTimeShare,
    LagPercentiles LagMs,
    int WentSilent,
    string? Warning);

/// <summary>Milliseconds after their slot that the connected agents' latest reports arrived (negative: early), over
/// <c>Agents</c> agents; all zero when none has reported.</summary>
public sealed record LagPercentiles(int Agents, long P50, long P90, long P99, long Max);

/// <summary>The agent port now: connections held, their cap, handshakes pending, and the open-files limit with the
/// descriptors still free under it.</summary>
public sealed record LiveConnections(int Open, int MaxConnections, int Pending, long OpenFilesLimit, long OpenFiles, long OpenFilesHeadroom);

/// <summary>The hub process: CPU over the last second (100 = one core), working set, managed heap, threads.</summary>
public sealed record LiveProcess(double CpuPercent, int Cores, long WorkingSetBytes, long ManagedHeapBytes, int Threads);

/// <summary>The status write-behind: how long since its last successful flush, agents waiting to be written, flushes
/// since start, and whether the store is failing now.</summary>
public sealed record LiveStore(long WriteLagMs, int Pending, long Flushes, bool Failing);

/// <summary>Jobs by state (from the store), submitted and finished since start, and finished per second (last 10 s).</summary>
public sealed record LiveJobs(Dictionary<string, int> ByState, long SubmittedTotal, long FinishedTotal, double FinishedPerSecond);

/// <summary>The <c>agents</c> event: agents that joined, changed presence or reported since the previous event, each as
/// a compact row. Presence changes and joins are sent for the whole fleet (at most <c>Limit</c> a second, the rest counted
/// in <c>More</c>); reports only for the ids the stream watches (<c>?watch=</c>).</summary>
public sealed record LiveAgents(IReadOnlyList<LiveAgent> Changed, int More);

/// <summary>One agent's row as the live stream carries it.</summary>
public sealed record LiveAgent(
    string Id,
    string State,
    bool Connected,
    DateTimeOffset LastSeen,
    ulong Seq,
    string? Status,
    int? Progress,
    string? LastDisconnectReason,
    bool Joined);

/// <summary>The live stream's events, source-generated.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(LiveSummary))]
[JsonSerializable(typeof(LiveAgents))]
public sealed partial class LiveJsonContext : JsonSerializerContext;
