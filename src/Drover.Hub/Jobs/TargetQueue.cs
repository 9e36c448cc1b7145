using Drover.Protocol;

namespace Drover.Hub.Jobs;

/// <summary>The queue of one target key, ordered by priority (higher first) then submission order.</summary>
internal sealed class TargetQueue(string key, JobTarget target)
{
    public string Key { get; } = key;

    public JobTarget Target { get; } = target;

    public PriorityQueue<ActiveJob, QueueKey> Jobs { get; } = new(QueueKey.Comparer);

    /// <summary>The first job that is still queued, dropping stale entries (cancelled, expired, re-queued).</summary>
    public bool TryPeek(out ActiveJob job, out QueueKey key)
    {
        while (Jobs.TryPeek(out job!, out key))
        {
            if (job.Phase == JobPhase.Queued && job.QueueStamp == key.Stamp)
            {
                return true;
            }

            Jobs.Dequeue();
        }

        return false;
    }
}

/// <summary>The order of a queue: priority descending, then submission order; the stamp marks stale entries.</summary>
internal readonly record struct QueueKey(int Priority, long Order, int Stamp)
{
    public static IComparer<QueueKey> Comparer { get; } = Comparer<QueueKey>.Create(static (a, b) =>
    {
        var byPriority = b.Priority.CompareTo(a.Priority);
        return byPriority != 0 ? byPriority : a.Order.CompareTo(b.Order);
    });
}
