using Drover.Hub.Connections;
using Drover.Storage;

namespace Drover.Hub.Fleet;

/// <summary>The fleet's read side, over the registry, the report figures, the schedule and admission control.</summary>
internal sealed class FleetView(
    HubOptions options,
    AgentRegistry registry,
    FleetStats stats,
    ReportSchedule schedule,
    AdmissionControl admission,
    LivenessSweep liveness,
    AgentSessions sessions) : IFleetView
{
    public string HubId => options.HubId;

    /// <summary>Set when the hub starts.</summary>
    public DateTimeOffset StartedAt { get; set; }

    public bool InRestartGrace => liveness.InRestartGrace;

    public int AgentCount => registry.Count;

    public int ConnectedCount => registry.Connected;

    public uint IntervalMs => schedule.IntervalMs;

    public long Capacity => options.MaxAgents > 0 ? options.MaxAgents : sessions.Capacity;

    public ConnectionLimits Connections => sessions.Limits;

    public SourceLimits Sources => sessions.Sources;

    public ReconnectFlapping Flapping => sessions.Flapping;

    public int AdmissionWaiting => admission.Waiting;

    public long TotalReports => stats.TotalReports;

    public IEnumerable<AgentEntry> Agents => registry.Entries;

    public long IdFlaps => sessions.Takeovers.TotalFlaps;

    public long FlapsOf(string id) => sessions.Takeovers.FlapsOf(id);

    public long[] ReportsLastSeconds(int seconds) => stats.LastSeconds(seconds);

    public bool TryGetAgent(string id, out AgentEntry entry) => registry.TryGet(id, out entry);

    public IReadOnlyDictionary<Presence, int> CountByPresence()
    {
        var counts = Enum.GetValues<Presence>().ToDictionary(p => p, _ => 0);
        foreach (var entry in registry.Entries)
        {
            counts[entry.Presence]++;
        }

        return counts;
    }
}
