namespace Drover.Storage;

/// <summary>Where the hub keeps its agents. The hub holds the live registry in memory and writes
/// it here in batches: one call, one transaction.</summary>
public interface IFleetStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema. Safe to call on an existing store.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Every agent that is not retired, for the hub to load at start.</summary>
    Task<IReadOnlyList<AgentRecord>> LoadAgentsAsync(CancellationToken cancellationToken);

    /// <summary>Writes agent rows (insert or replace; <see cref="AgentRecord.FirstSeen"/> of an existing
    /// row is kept) and appends history samples, all in one transaction. Returns when it is durable.</summary>
    Task WriteBatchAsync(IReadOnlyList<AgentRecord> agents, IReadOnlyList<StatusSample> history, CancellationToken cancellationToken);

    /// <summary>As <see cref="WriteBatchAsync(IReadOnlyList{AgentRecord}, IReadOnlyList{StatusSample}, CancellationToken)"/>,
    /// and appends <paramref name="events"/> (their <see cref="AgentEventRecord.Id"/> is ignored) in the same transaction.</summary>
    Task WriteBatchAsync(IReadOnlyList<AgentRecord> agents, IReadOnlyList<StatusSample> history, IReadOnlyList<AgentEventRecord> events, CancellationToken cancellationToken);

    /// <summary>One agent's row, or null.</summary>
    Task<AgentRecord?> GetAgentAsync(string id, CancellationToken cancellationToken);

    /// <summary>One agent's most recent status samples, newest first.</summary>
    Task<IReadOnlyList<StatusSample>> GetStatusHistoryAsync(string agentId, int limit, CancellationToken cancellationToken);

    /// <summary>A page of one agent's status history, newest first: at most <paramref name="limit"/> samples with ids below
    /// <paramref name="beforeId"/> (when given) received at or after <paramref name="since"/> (when given).</summary>
    Task<IReadOnlyList<HistoryEntry>> ReadStatusHistoryAsync(string agentId, DateTimeOffset? since, long? beforeId, int limit, CancellationToken cancellationToken);

    /// <summary>A page of one agent's events, newest first, as <see cref="ReadStatusHistoryAsync"/> pages.</summary>
    Task<IReadOnlyList<AgentEventRecord>> ReadAgentEventsAsync(string agentId, DateTimeOffset? since, long? beforeId, int limit, CancellationToken cancellationToken);

    /// <summary>Downsamples the history received in [<paramref name="receivedFrom"/>, <paramref name="receivedBefore"/>): of each agent's samples
    /// in one <paramref name="bucket"/> (buckets aligned to the Unix epoch) only the newest is kept. Returns how many were deleted.</summary>
    Task<int> DownsampleStatusHistoryAsync(DateTimeOffset receivedFrom, DateTimeOffset receivedBefore, TimeSpan bucket, CancellationToken cancellationToken);

    /// <summary>Deletes the events recorded before <paramref name="olderThan"/>. Returns how many.</summary>
    Task<int> PruneAgentEventsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);

    /// <summary>Deletes history samples beyond <paramref name="maxPerAgent"/> per agent and those older
    /// than <paramref name="olderThan"/>. Returns how many were deleted.</summary>
    Task<int> PruneStatusHistoryAsync(int maxPerAgent, DateTimeOffset olderThan, CancellationToken cancellationToken);

    /// <summary>The highest session epoch and slot ordinal ever stored, so a restarted hub continues above them.</summary>
    Task<(ulong MaxEpoch, long MaxSlotOrdinal)> GetCountersAsync(CancellationToken cancellationToken);
}
