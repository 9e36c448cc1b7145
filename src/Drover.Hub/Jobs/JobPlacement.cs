using Drover.Protocol;

namespace Drover.Hub.Jobs;

/// <summary>Placement: which free agent runs the head job of a queue, by the queue's target: random (uniform among
/// the free agents), least-loaded (fewest jobs in flight per slot), a label (uniform among the free agents that carry
/// it) or one agent. The agent of the job's last failed attempt is avoided when another candidate exists. Called
/// with <see cref="JobTable.Lock"/> held.</summary>
internal static class JobPlacement
{
    /// <summary>Chooses an agent for the head job of <paramref name="queue"/>, or null when none is free.</summary>
    public static JobAgent? ChooseLocked(AgentSlots agents, TargetQueue queue, ActiveJob job)
    {
        var avoid = job.AvoidAgent;
        switch (queue.Target.Kind)
        {
            case JobTargetKind.Random:
            {
                var free = agents.FreeLocked;
                var count = free.Count;
                if (count == 0)
                {
                    return null;
                }

                var pick = free[Random.Shared.Next(count)];
                if (count > 1 && pick.Id == avoid)
                {
                    // Uniform among the others: pick from the list without the avoided one.
                    var index = Random.Shared.Next(count - 1);
                    pick = free[index >= pick.FreeIndex ? index + 1 : index];
                }

                return pick;
            }

            case JobTargetKind.LeastLoaded:
            {
                JobAgent? first = null;
                foreach (var agent in agents.ByLoadLocked)
                {
                    if (agent.Id != avoid)
                    {
                        return agent;
                    }

                    first ??= agent;
                }

                return first;
            }

            case JobTargetKind.Agent:
                return agents.TryGetLocked(queue.Target.AgentId!, out var target) && target.HasFreeSlot ? target : null;

            case JobTargetKind.Label:
            {
                JobAgent? chosen = null, avoided = null;
                var seen = 0;
                foreach (var agent in agents.FreeLocked)
                {
                    if (!agent.Labels.TryGetValue(queue.Target.LabelKey!, out var value) || value != queue.Target.LabelValue)
                    {
                        continue;
                    }

                    if (agent.Id == avoid)
                    {
                        avoided = agent;
                        continue;
                    }

                    // Reservoir sampling: uniform among the matching agents in one pass.
                    if (Random.Shared.Next(++seen) == 0)
                    {
                        chosen = agent;
                    }
                }

                return chosen ?? avoided;
            }

            default:
                return null;
        }
    }
}
