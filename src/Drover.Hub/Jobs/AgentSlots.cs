using Drover.Hub.Connections;
using Drover.Hub.Fleet;

namespace Drover.Hub.Jobs;

/// <summary>The agents as the dispatcher sees them (<see cref="JobAgent"/>: connected agents with job slots, and
/// any agent that holds leases), with the two indexes placement chooses from: the agents with a free slot in a
/// list (a uniform O(1) choice, swap-remove) and the same agents ordered by load (least-loaded). Guarded by
/// <see cref="JobTable.Lock"/>; a slot that frees up signals a placement pass.</summary>
internal sealed class AgentSlots(JobTable table, PlacementSignal signal, TimeProvider time)
{
    private readonly TimeProvider _time = time;
    private readonly JobTable _table = table;
    private readonly PlacementSignal _signal = signal;
    private readonly Dictionary<string, JobAgent> _agents = new(StringComparer.Ordinal);

    /// <summary>Connected agents with a free slot (index in <see cref="JobAgent.FreeIndex"/>).</summary>
    private readonly List<JobAgent> _free = [];

    /// <summary>The same agents ordered by jobs in flight per slot, for least-loaded.</summary>
    private readonly SortedSet<JobAgent> _byLoad = new(LoadComparer.Instance);
    private long _agentOrdinal;

    /// <summary>Connected agents with a free slot, in no order.</summary>
    public List<JobAgent> FreeLocked => _free;

    /// <summary>Connected agents with a free slot, fewest jobs in flight per slot first, then the oldest.</summary>
    public SortedSet<JobAgent> ByLoadLocked => _byLoad;

    /// <summary>Every agent the dispatcher knows (the sweep walks their leases).</summary>
    public Dictionary<string, JobAgent>.ValueCollection AllLocked => _agents.Values;

    public bool TryGetLocked(string agentId, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out JobAgent agent) =>
        _agents.TryGetValue(agentId, out agent);

    /// <summary>How many jobs are running on <paramref name="agentId"/> now (as the hub counts them).</summary>
    public int InFlightOn(string agentId)
    {
        lock (_table.Lock)
        {
            return _agents.TryGetValue(agentId, out var agent) ? agent.InFlight : 0;
        }
    }

    /// <summary>A session's welcome was sent: the agent gets jobs up to its slots. A session that replaces
    /// another keeps the old one's leases; each stays in its disconnect grace until the agent re-announces it.</summary>
    public void OnAgentConnected(AgentEntry entry, AgentConnection session)
    {
        bool free;
        lock (_table.Lock)
        {
            if (!_agents.TryGetValue(entry.Id, out var agent))
            {
                if (entry.JobSlots <= 0)
                {
                    return;
                }

                agent = GetOrAddLocked(entry.Id);
            }

            RemoveFreeLocked(agent);
            agent.Session = session;
            agent.Slots = entry.JobSlots;
            agent.Labels = entry.Labels;
            if (session.IsClosed)
            {
                // Closed before we got here: its close may have run before this, so undo.
                agent.Session = null;
            }

            AddFreeIfFreeLocked(agent);
            free = agent.HasFreeSlot;
        }

        if (free)
        {
            _signal.Signal();
        }
    }

    /// <summary>A session ended: its agent gets no more jobs, and each job leased to it starts its disconnect grace.</summary>
    public void OnAgentDisconnected(AgentEntry entry, AgentConnection session)
    {
        lock (_table.Lock)
        {
            if (!_agents.TryGetValue(entry.Id, out var agent) || agent.Session != session)
            {
                return;
            }

            RemoveFreeLocked(agent);
            agent.Session = null;
            var now = _time.GetUtcNow().UtcTicks;
            foreach (var job in agent.Jobs)
            {
                if (job.DisconnectedSinceTicks == 0)
                {
                    job.DisconnectedSinceTicks = now;
                }
            }

            if (agent.Jobs.Count == 0)
            {
                _agents.Remove(agent.Id);
            }
        }
    }

    /// <summary>Leases <paramref name="job"/> to <paramref name="agent"/>: its slot is taken.</summary>
    public void AttachLocked(ActiveJob job, JobAgent agent)
    {
        job.Owner = agent;
        agent.Jobs.Add(job);
        ChangeInFlightLocked(agent, +1);
    }

    /// <summary>Releases a job from its owner (its slot is free again).</summary>
    public void DetachLocked(ActiveJob job)
    {
        if (job.Owner is { } owner)
        {
            owner.Jobs.Remove(job);
            job.Owner = null;
            ChangeInFlightLocked(owner, -1);
            if (owner.Session is null && owner.Jobs.Count == 0)
            {
                _agents.Remove(owner.Id);
            }
        }
    }

    public JobAgent GetOrAddLocked(string id)
    {
        if (!_agents.TryGetValue(id, out var agent))
        {
            agent = new JobAgent(id, _agentOrdinal++);
            _agents[id] = agent;
        }

        return agent;
    }

    /// <summary>Changes an agent's in-flight count, keeping the free-slot list and the load order current.</summary>
    private void ChangeInFlightLocked(JobAgent agent, int delta)
    {
        RemoveFreeLocked(agent);
        agent.InFlight += delta;

        AddFreeIfFreeLocked(agent);
        if (delta < 0 && agent.HasFreeSlot)
        {
            _signal.Signal();
        }
    }

    private void AddFreeIfFreeLocked(JobAgent agent)
    {
        if (agent.FreeIndex >= 0 || !agent.HasFreeSlot)
        {
            return;
        }

        agent.FreeIndex = _free.Count;
        _free.Add(agent);
        _byLoad.Add(agent);
    }

    private void RemoveFreeLocked(JobAgent agent)
    {
        var index = agent.FreeIndex;
        if (index < 0)
        {
            return;
        }

        var last = _free[^1];
        _free[index] = last;
        last.FreeIndex = index;
        _free.RemoveAt(_free.Count - 1);
        agent.FreeIndex = -1;
        _byLoad.Remove(agent);
    }

    /// <summary>Fewest jobs in flight per slot first (compared by cross-multiplying), then the oldest agent.</summary>
    private sealed class LoadComparer : IComparer<JobAgent>
    {
        public static readonly LoadComparer Instance = new();

        public int Compare(JobAgent? x, JobAgent? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            var load = ((long)x!.InFlight * y!.Slots).CompareTo((long)y.InFlight * x.Slots);
            return load != 0 ? load : x.Ordinal.CompareTo(y.Ordinal);
        }
    }
}
