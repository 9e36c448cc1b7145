using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Api;

/// <summary>An agent as the API shows it. <see cref="IdFlaps"/>: how often since the hub started a session from another
/// connection took this id over while it flapped between two sources (two agents sharing one id).</summary>
public sealed record AgentView(
    string Id,
    string State,
    bool Connected,
    DateTimeOffset LastSeen,
    DateTimeOffset FirstSeen,
    IReadOnlyDictionary<string, string> Labels,
    string Address,
    string Version,
    string HubNode,
    ulong SessionEpoch,
    uint SlotOffsetMs,
    string? LastDisconnectReason,
    int JobSlots,
    int JobsInFlight,
    StatusView? Status,
    long IdFlaps);

/// <summary>A status report as the API shows it.</summary>
public sealed record StatusView(ulong Seq, string State, int? Progress, Dictionary<string, object?> Fields, DateTimeOffset ReceivedAt);

/// <summary>One page of agents in the order <c>sort</c> asked for (id by default). <see cref="Total"/>: the agents that match
/// the filters, over every page. Pass <see cref="Next"/> as <c>cursor</c> for the next page; null on the last.</summary>
public sealed record AgentPage(IReadOnlyList<AgentView> Items, int Total, string? Next);

/// <summary>One agent with its latest status samples (at most 100, newest first; <c>/api/agents/{id}/history</c> pages
/// through all of them).</summary>
public sealed record AgentDetail(AgentView Agent, IReadOnlyList<StatusView> History);

/// <summary>A page of an agent's status history, newest first; <see cref="Next"/> is the cursor of the older page.</summary>
public sealed record StatusHistoryPage(IReadOnlyList<StatusView> Items, string? Next);

/// <summary>One connection event of an agent. <see cref="Kind"/>: <c>session-opened</c>, <c>session-closed</c>,
/// <c>hello-refused</c>, <c>presence</c>, <c>credential</c> or <c>id-flap</c>; <see cref="Reason"/> its machine-readable part
/// (the disconnect reason, the new presence, the credential's new state, the refusal's code), null for those without one.</summary>
public sealed record AgentEventView(long Id, DateTimeOffset At, string Kind, string? Reason, string Detail);

/// <summary>A page of an agent's events, newest first; <see cref="Next"/> is the cursor of the older page.</summary>
public sealed record AgentEventPage(IReadOnlyList<AgentEventView> Items, string? Next);

/// <summary>Fleet counters for the dashboard and `drover clients`. <see cref="IdFlaps"/>: the flaps of every agent id
/// since the hub started (see <see cref="AgentView.IdFlaps"/>). <see cref="Access"/>: requests the API's gate refused.</summary>
public sealed record StatsView(
    string HubId,
    DateTimeOffset StartedAt,
    bool RestartGrace,
    int Agents,
    int Connected,
    Dictionary<string, int> ByState,
    uint IntervalMs,
    double ReportsPerSecond,
    long TotalReports,
    long[] ArrivalsPerSecond,
    int AdmissionWaiting,
    long Capacity,
    ConnectionsView Connections,
    ProcessView Process,
    JobStatsView Jobs,
    long IdFlaps,
    AccessView Access);

/// <summary>The agent port's connections: held now, their caps, and what was refused or closed since start.</summary>
public sealed record ConnectionsView(
    int Open,
    int MaxConnections,
    int Pending,
    int MaxPendingHandshakes,
    int PendingPeak,
    long RefusedOverConnections,
    long RefusedOverPending,
    long HandshakeTimeouts,
    long AcceptErrors,
    ConnectionRateLimitsView Limits);

/// <summary>The agent port's limits per source address and per agent id (docs/operations.md, "Limits per source and per
/// agent id"): the settings, and what they refused since start.</summary>
/// <param name="ConnectionRate">New connections per second per source (0: off).</param>
/// <param name="ConnectionBurst">Connections a source may open at once.</param>
/// <param name="TrackedSources">Sources in the table now (at most 65,536).</param>
/// <param name="UntrackedSources">New sources let through untracked because the table was full.</param>
/// <param name="RefusedOverRate">Connections over their source's rate whose hello was refused with a retry-after.</param>
/// <param name="ResetOverRate">Connections reset at accept: their source kept pushing.</param>
/// <param name="AuthFailures">Hellos with a wrong token.</param>
/// <param name="AuthPenalties">Blocks started for wrong tokens.</param>
/// <param name="PenalizedSources">Sources blocked for wrong tokens now.</param>
/// <param name="RefusedPenalized">Hellos refused because their source was blocked.</param>
/// <param name="FlapBans">Bans of agent ids that started too many sessions.</param>
/// <param name="RefusedFlapping">Hellos refused because their agent id was banned (those that started a ban included).</param>
/// <param name="FlappingIds">Agent ids watched for flapping now (reconnected within the window, banned, or with offences).</param>
public sealed record ConnectionRateLimitsView(
    int ConnectionRate,
    int ConnectionBurst,
    int TrackedSources,
    long UntrackedSources,
    long RefusedOverRate,
    long ResetOverRate,
    long AuthFailures,
    long AuthPenalties,
    int PenalizedSources,
    long RefusedPenalized,
    long FlapBans,
    long RefusedFlapping,
    int FlappingIds);

/// <summary>The hub process's own memory and GC figures.</summary>
public sealed record ProcessView(long WorkingSetBytes, long ManagedHeapBytes, long GcCommittedBytes, long GcFragmentedBytes, int Gen0Collections, int Gen1Collections, int Gen2Collections, int Threads);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(AgentPage))]
[JsonSerializable(typeof(List<AgentView>))]
[JsonSerializable(typeof(AgentDetail))]
[JsonSerializable(typeof(StatusHistoryPage))]
[JsonSerializable(typeof(AgentEventPage))]
[JsonSerializable(typeof(StatsView))]
[JsonSerializable(typeof(ApiProblem))]
[JsonSerializable(typeof(JobView))]
[JsonSerializable(typeof(List<JobView>))]
[JsonSerializable(typeof(SubmittedJob))]
[JsonSerializable(typeof(JobPage))]
[JsonSerializable(typeof(ResultView))]
[JsonSerializable(typeof(AttemptList))]
[JsonSerializable(typeof(SubmitResponse))]
[JsonSerializable(typeof(JobStatsView))]
[JsonSerializable(typeof(TokenCreated))]
[JsonSerializable(typeof(TokenView))]
[JsonSerializable(typeof(TokenList))]
[JsonSerializable(typeof(AgentCredentialView))]
[JsonSerializable(typeof(AgentCredentialList))]
[JsonSerializable(typeof(AuditPage))]
[JsonSerializable(typeof(List<AuditEntryView>))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(byte[]))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
