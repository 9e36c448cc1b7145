using Drover.Hub.Connections;
using Drover.Hub.Fleet;

namespace Drover.Hub.Jobs;

/// <summary>An agent as the dispatcher sees it: its slots, its session and the jobs leased to it. Exists
/// for connected agents with job slots and for any agent that holds leases. Guarded by <see cref="JobTable.Lock"/>.</summary>
internal sealed class JobAgent
{
    public JobAgent(string id, long ordinal)
    {
        Id = id;
        Ordinal = ordinal;
    }

    public string Id { get; }

    /// <summary>A tie-break for the least-loaded order.</summary>
    public long Ordinal { get; }

    /// <summary>The live session, or null while the agent is away.</summary>
    public AgentConnection? Session;

    public IReadOnlyDictionary<string, string> Labels = AgentEntry.EmptyLabels;

    public int Slots;

    public int InFlight;

    /// <summary>Its index in <see cref="AgentSlots"/>' list of agents with a free slot, or -1.</summary>
    public int FreeIndex = -1;

    public readonly HashSet<ActiveJob> Jobs = [];

    public bool HasFreeSlot => Session is not null && InFlight < Slots;
}
