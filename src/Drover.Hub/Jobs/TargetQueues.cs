namespace Drover.Hub.Jobs;

/// <summary>The queued jobs, one <see cref="TargetQueue"/> per target key (created when a job is queued for it,
/// dropped by the placement pass once empty). Guarded by <see cref="JobTable.Lock"/>.</summary>
internal sealed class TargetQueues
{
    private readonly Dictionary<string, TargetQueue> _queues = new(StringComparer.Ordinal);

    /// <summary>Every target's queue (the placement pass and the sweep walk them).</summary>
    public Dictionary<string, TargetQueue>.ValueCollection AllLocked => _queues.Values;

    /// <summary>Puts a job in its target's queue (a new stamp makes any older entry of it stale).</summary>
    public void EnqueueLocked(ActiveJob job, long queuedAtTicks)
    {
        job.Phase = JobPhase.Queued;
        job.Owner = null;
        job.QueuedAtTicks = queuedAtTicks;
        job.QueueStamp++;
        if (!_queues.TryGetValue(job.TargetKey, out var queue))
        {
            queue = new TargetQueue(job.TargetKey, job.Target);
            _queues[job.TargetKey] = queue;
        }

        queue.Jobs.Enqueue(job, new QueueKey(job.Record.Priority, job.Order, job.QueueStamp));
    }

    /// <summary>Drops the queue of <paramref name="key"/> if it is (still) empty.</summary>
    public void RemoveIfEmptyLocked(string key)
    {
        if (_queues.TryGetValue(key, out var queue) && queue.Jobs.Count == 0)
        {
            _queues.Remove(key);
        }
    }
}
