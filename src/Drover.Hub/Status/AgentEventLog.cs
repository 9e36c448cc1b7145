using System.Collections.Concurrent;
using Drover.Storage;

namespace Drover.Hub.Status;

/// <summary>Agent events waiting for the next flush of the <see cref="StatusWriter"/>, which writes them in its batch's
/// transaction (no transaction of their own). Only changes make events (a session opened or closed, a presence change, a
/// credential decision, an id flap, a refused hello of a known id), never a plain report. Bounded: beyond
/// <see cref="Capacity"/> waiting events a new one is dropped and counted (<see cref="Dropped"/>): the named policy when
/// the store cannot keep up is to lose events, never to hold sessions back.</summary>
internal sealed class AgentEventLog(TimeProvider time)
{
    /// <summary>Most events waiting at once: 100,000 (about 15 MB), a reconnect storm of the whole fleet twice over.</summary>
    public const int Capacity = 100_000;

    private readonly ConcurrentQueue<AgentEventRecord> _queue = new();
    private int _count;
    private long _dropped;

    /// <summary>Events dropped since the start because <see cref="Capacity"/> were waiting.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public int Waiting => Volatile.Read(ref _count);

    public void Add(string agentId, string kind, string? reason, string detail)
    {
        if (Interlocked.Increment(ref _count) > Capacity)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _dropped);
            return;
        }

        _queue.Enqueue(new AgentEventRecord(0, agentId, time.GetUtcNow(), kind, reason, detail));
    }

    /// <summary>A presence change, when <paramref name="from"/> and <paramref name="to"/> differ.</summary>
    public void PresenceChanged(string agentId, Presence from, Presence to, string? why = null)
    {
        if (from != to)
        {
            var detail = $"{Name(from)} → {Name(to)}";
            Add(agentId, AgentEventKinds.Presence, Name(to), why is null ? detail : $"{detail}: {why}");
        }
    }

    /// <summary>Takes every waiting event, oldest first.</summary>
    public List<AgentEventRecord> Drain()
    {
        var batch = new List<AgentEventRecord>(Math.Min(Waiting, 4096));
        while (_queue.TryDequeue(out var item))
        {
            Interlocked.Decrement(ref _count);
            batch.Add(item);
        }

        return batch;
    }

    public static string Name(Presence presence) => presence.ToString().ToLowerInvariant();
}
