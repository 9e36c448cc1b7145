using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Internal;

internal sealed partial class JobDispatcher
{
    /// <summary>Placements per pass before the lock is released (the loop then runs another pass).</summary>
    private const int PlacementsPerPass = 1024;
    private static readonly TimeSpan PauseAfterStoreFailure = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, TargetQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JobAgent> _agents = new(StringComparer.Ordinal);

    /// <summary>Connected agents with a free slot, for a uniform O(1) choice (swap-remove; index in <see cref="JobAgent.FreeIndex"/>).</summary>
    private readonly List<JobAgent> _free = [];

    /// <summary>The same agents ordered by jobs in flight per slot, for least-loaded.</summary>
    private readonly SortedSet<JobAgent> _byLoad = new(LoadComparer.Instance);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _signaled;
    private long _agentOrdinal;
    private volatile bool _storeFailed;

    /// <summary>The dispatch loop: one pass per wake-up (jobs arrived, an agent with slots connected, a slot
    /// freed). Leases are not awaited here: each is committed by the group commit and its job frame is sent
    /// when it completes, so many leases are in flight at once.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _signaled, 0);
                if (_storeFailed)
                {
                    _storeFailed = false;
                    await Task.Delay(PauseAfterStoreFailure, _time, cancellationToken).ConfigureAwait(false);
                }

                try
                {
                    PlacePass();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SessionBug(_logger, "job dispatch", ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Asks the dispatch loop for a pass.</summary>
    internal void Signal()
    {
        if (Interlocked.Exchange(ref _signaled, 1) == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>Places as many queued jobs as there are free agents for them, highest priority first across
    /// every target queue; a queue whose head has no agent is skipped for this pass (it does not block others).</summary>
    internal void PlacePass()
    {
        var placed = new List<(ActiveJob Job, JobAgent Agent, int Attempt, long ExpiresTicks)>();
        var now = _time.GetUtcNow().UtcTicks;
        var more = false;
        lock (_lock)
        {
            if (_free.Count == 0)
            {
                return;
            }

            var heads = new PriorityQueue<TargetQueue, QueueKey>(QueueKey.Comparer);
            List<string>? empty = null;
            foreach (var queue in _queues.Values)
            {
                if (queue.TryPeek(out _, out var key))
                {
                    heads.Enqueue(queue, key);
                }
                else
                {
                    (empty ??= []).Add(queue.Key);
                }
            }

            while (heads.TryDequeue(out var queue, out _))
            {
                if (placed.Count >= PlacementsPerPass)
                {
                    more = true;
                    break;
                }

                if (_free.Count == 0)
                {
                    break;
                }

                queue.TryPeek(out var job, out _);
                var agent = ChooseLocked(queue, job);
                if (agent is null)
                {
                    continue;
                }

                queue.Jobs.Dequeue();
                job.Phase = JobPhase.Leasing;
                job.Attempt++;
                job.Owner = agent;
                job.Accepted = false;
                job.DisconnectedSinceTicks = 0;
                job.LeaseExpiresTicks = now + job.Record.Timeout.Ticks + _options.LeaseGrace.Ticks;
                agent.Jobs.Add(job);
                ChangeInFlightLocked(agent, +1);
                placed.Add((job, agent, job.Attempt, job.LeaseExpiresTicks));

                if (queue.TryPeek(out _, out var next))
                {
                    heads.Enqueue(queue, next);
                }
            }

            foreach (var key in empty ?? [])
            {
                if (_queues.TryGetValue(key, out var queue) && queue.Jobs.Count == 0)
                {
                    _queues.Remove(key);
                }
            }
        }

        foreach (var (job, agent, attempt, expires) in placed)
        {
            _ = CommitLeaseAsync(job, agent, attempt, expires);
        }

        if (more)
        {
            Signal();
        }
    }

    /// <summary>Commits a lease, then sends the job frame (or puts the job back when the lease was not made).</summary>
    private async Task CommitLeaseAsync(ActiveJob job, JobAgent agent, int attempt, long expiresTicks)
    {
        bool leased;
        var storeFailed = false;
        try
        {
            leased = await _writer.LeaseAsync(new JobLease(job.Id, agent.Id, attempt, new DateTimeOffset(expiresTicks, TimeSpan.Zero))).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged by the writer. Nothing was stored: the job is still queued there.
            leased = false;
            storeFailed = true;
        }

        AgentConnection? session;
        Job frame;
        lock (_lock)
        {
            if (job.Phase != JobPhase.Leasing || job.Attempt != attempt)
            {
                return;
            }

            if (!leased || job.Cancelled)
            {
                DetachLocked(job);
                job.Attempt = attempt - 1;
                if (storeFailed && !job.Cancelled)
                {
                    _storeFailed = true;
                    EnqueueLocked(job, job.QueuedAtTicks);
                    Signal();
                }
                else
                {
                    // Leased but cancelled meanwhile (the store holds it cancelled), or the store refused
                    // the lease because the job is no longer queued there (cancelled first).
                    RemoveLocked(job, finished: false);
                }

                return;
            }

            job.Phase = JobPhase.Running;
            session = agent.Session;
            if (session is null)
            {
                // Its agent went away meanwhile: the disconnect grace runs from now.
                job.DisconnectedSinceTicks = _time.GetUtcNow().UtcTicks;
                return;
            }

            job.Sending = true;
            var record = job.Record;
            var now = _time.GetUtcNow();
            frame = new Job(
                job.Id,
                (uint)attempt,
                (now + record.Timeout).ToUnixTimeMilliseconds(),
                (uint)Math.Clamp(record.Timeout.TotalMilliseconds, 0, uint.MaxValue),
                record.FileName,
                record.Sha256,
                record.Args,
                record.Content);
        }

        session.Send(frame);
        var cancel = false;
        lock (_lock)
        {
            job.Sending = false;
            cancel = job.Cancelled && job.Phase == JobPhase.Running && job.Attempt == attempt;
        }

        if (cancel)
        {
            session.Send(new JobCancel(job.Id, (uint)attempt, "cancelled"));
        }
    }

    /// <summary>Puts a job in its target's queue (a new stamp makes any older entry of it stale).</summary>
    private void EnqueueLocked(ActiveJob job, long queuedAtTicks)
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

    /// <summary>Chooses an agent for the head job of <paramref name="queue"/>, or null when none is free.</summary>
    private JobAgent? ChooseLocked(TargetQueue queue, ActiveJob job)
    {
        var avoid = job.AvoidAgent;
        switch (queue.Target.Kind)
        {
            case JobTargetKind.Random:
            {
                var count = _free.Count;
                if (count == 0)
                {
                    return null;
                }

                var pick = _free[Random.Shared.Next(count)];
                if (count > 1 && pick.Id == avoid)
                {
                    // Uniform among the others: pick from the list without the avoided one.
                    var index = Random.Shared.Next(count - 1);
                    pick = _free[index >= pick.FreeIndex ? index + 1 : index];
                }

                return pick;
            }

            case JobTargetKind.LeastLoaded:
            {
                JobAgent? first = null;
                foreach (var agent in _byLoad)
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
                return _agents.TryGetValue(queue.Target.AgentId!, out var target) && target.HasFreeSlot ? target : null;

            case JobTargetKind.Label:
            {
                JobAgent? chosen = null, avoided = null;
                var seen = 0;
                foreach (var agent in _free)
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

    /// <summary>Changes an agent's in-flight count, keeping the free-slot list and the load order current.</summary>
    private void ChangeInFlightLocked(JobAgent agent, int delta)
    {
        RemoveFreeLocked(agent);
        agent.InFlight += delta;

        AddFreeIfFreeLocked(agent);
        if (delta < 0 && agent.HasFreeSlot)
        {
            Signal();
        }
    }

    /// <summary>Releases a job from its owner (its slot is free again).</summary>
    private void DetachLocked(ActiveJob job)
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

    private JobAgent GetOrAddAgentLocked(string id)
    {
        if (!_agents.TryGetValue(id, out var agent))
        {
            agent = new JobAgent(id, _agentOrdinal++);
            _agents[id] = agent;
        }

        return agent;
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
