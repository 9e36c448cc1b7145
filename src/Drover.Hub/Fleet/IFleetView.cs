using Drover.Storage;

namespace Drover.Hub.Fleet;

/// <summary>What the HTTP API reads about the fleet: the agents (read-only: an entry is read under its lock,
/// never changed), their counts, the schedule and the report figures. Nothing here changes the registry.</summary>
internal interface IFleetView
{
    string HubId { get; }

    DateTimeOffset StartedAt { get; }

    bool InRestartGrace { get; }

    /// <summary>Agents in the registry (connected or not).</summary>
    int AgentCount { get; }

    /// <summary>Agents with a live session.</summary>
    int ConnectedCount { get; }

    /// <summary>The report interval agents are given now.</summary>
    uint IntervalMs { get; }

    /// <summary>How many agents this hub admits: the configured limit, else the open-files estimate (0: not known).</summary>
    long Capacity { get; }

    /// <summary>The agent port's connection caps and counters.</summary>
    Connections.ConnectionLimits Connections { get; }

    /// <summary>The agent port's limits per source address (connection rate, wrong tokens).</summary>
    Connections.SourceLimits Sources { get; }

    /// <summary>Agent ids that started too many sessions in a short time.</summary>
    ReconnectFlapping Flapping { get; }

    /// <summary>Agents holding a reconnect slot in admission control.</summary>
    int AdmissionWaiting { get; }

    /// <summary>Status reports recorded since start.</summary>
    long TotalReports { get; }

    IEnumerable<AgentEntry> Agents { get; }

    /// <summary>Takeovers counted as flaps since start, over every agent id.</summary>
    long IdFlaps { get; }

    /// <summary>Takeovers counted as flaps since start for <paramref name="id"/>.</summary>
    long FlapsOf(string id);

    /// <summary>Reports per second for each of the last <paramref name="seconds"/> complete seconds, oldest first.</summary>
    long[] ReportsLastSeconds(int seconds);

    bool TryGetAgent(string id, out AgentEntry entry);

    IReadOnlyDictionary<Presence, int> CountByPresence();
}
