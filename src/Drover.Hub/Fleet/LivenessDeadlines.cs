namespace Drover.Hub.Fleet;

/// <summary>When the liveness sweep must look at each agent next: one priority queue for the whole fleet, so that a sweep
/// touches only the agents whose time came instead of every agent every second (the sweep walked 10,000 agents a second
/// at about 400 ns each; docs/benchmarks.md, "Issue 12, step 1"). Lazy, as Kafka's and Netty's timer wheels: a report does
/// not move its agent (the report path stays as it was); when an agent's time comes the sweep works out its real next
/// deadline from its state and queues it again. An agent is queued once: <see cref="AgentEntry.SweepDueTicks"/> holds its
/// time, and a queued item with another time is a leftover, skipped. Used by the sweep alone.</summary>
internal sealed class LivenessDeadlines
{
    private readonly PriorityQueue<AgentEntry, long> _due = new();

    /// <summary>Items in the queue (an agent once, plus leftovers not yet reached).</summary>
    public int Count => _due.Count;

    /// <summary>Looks at <paramref name="entry"/> at <paramref name="atTicks"/>, instead of any time given before.</summary>
    public void Schedule(AgentEntry entry, long atTicks)
    {
        entry.SweepDueTicks = atTicks;
        _due.Enqueue(entry, atTicks);
    }

    /// <summary>An agent whose time is at or before <paramref name="nowTicks"/>, taken out of the queue; false when none is
    /// left.</summary>
    public bool TryTakeDue(long nowTicks, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out AgentEntry entry)
    {
        while (_due.TryPeek(out entry, out var atTicks) && atTicks <= nowTicks)
        {
            _due.Dequeue();
            if (entry.SweepDueTicks == atTicks)
            {
                entry.SweepDueTicks = 0;
                return true;
            }
        }

        entry = null;
        return false;
    }

    /// <summary>Empties the queue (before every agent is queued again).</summary>
    public void Clear() => _due.Clear();
}
