using Drover.Protocol;

namespace Drover.Agent.Internal.Reports;

/// <summary>The latest status samples taken while disconnected, oldest first, at most
/// <see cref="Capacity"/>: adding to a full backlog drops the oldest sample (policy: drop oldest status).
/// Thread-safe.</summary>
internal sealed class StatusBacklog
{
    private readonly Queue<Status> _samples = new();
    private readonly object _gate = new();

    public StatusBacklog(int capacity) => Capacity = capacity;

    public int Capacity { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _samples.Count;
            }
        }
    }

    /// <summary>Samples dropped because the backlog was full, over the agent's lifetime.</summary>
    public long Dropped { get; private set; }

    /// <summary>Adds a sample; returns true if the oldest one was dropped to make room.</summary>
    public bool Add(Status sample)
    {
        if (Capacity == 0)
        {
            return false;
        }

        lock (_gate)
        {
            var dropped = false;
            while (_samples.Count >= Capacity)
            {
                _samples.Dequeue();
                Dropped++;
                dropped = true;
            }

            _samples.Enqueue(sample);
            return dropped;
        }
    }

    public bool TryPeek(out Status sample)
    {
        lock (_gate)
        {
            return _samples.TryPeek(out sample!);
        }
    }

    /// <summary>Removes <paramref name="sample"/> if it is still the oldest (it was sent).</summary>
    public void RemoveSent(Status sample)
    {
        lock (_gate)
        {
            if (_samples.TryPeek(out var head) && ReferenceEquals(head, sample))
            {
                _samples.Dequeue();
            }
        }
    }

    public Status[] Snapshot()
    {
        lock (_gate)
        {
            return _samples.ToArray();
        }
    }
}
