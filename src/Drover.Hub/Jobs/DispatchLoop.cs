using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>The dispatch loop: one placement pass per wake-up of the <see cref="PlacementSignal"/>, which places as
/// many queued jobs as there are free agents for them (chosen by <see cref="JobPlacement"/>), then commits each
/// lease through the group commit and sends the job frame once it is committed. Leases are not awaited by the
/// loop, so many are in flight at once.</summary>
internal sealed class DispatchLoop
{
    /// <summary>Placements per pass before the lock is released (the loop then runs another pass).</summary>
    private const int PlacementsPerPass = 1024;
    private static readonly TimeSpan PauseAfterStoreFailure = TimeSpan.FromSeconds(1);

    private readonly JobTable _table;
    private readonly TargetQueues _queues;
    private readonly AgentSlots _agents;
    private readonly PlacementSignal _signal;
    private readonly JobWriter _writer;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _storeFailed;

    public DispatchLoop(JobTable table, TargetQueues queues, AgentSlots agents, PlacementSignal signal, JobWriter writer, HubOptions options, ILogger<DispatchLoop> logger)
    {
        _table = table;
        _queues = queues;
        _agents = agents;
        _signal = signal;
        _writer = writer;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
    }

    /// <summary>The loop: one pass per signal (jobs arrived, an agent with slots connected, a slot freed); after a
    /// lease the store could not commit it pauses a second before the next pass.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Places as many queued jobs as there are free agents for them, highest priority first across
    /// every target queue; a queue whose head has no agent is skipped for this pass (it does not block others).</summary>
    internal void PlacePass()
    {
        var placed = new List<(ActiveJob Job, JobAgent Agent, int Attempt, long ExpiresTicks)>();
        var now = _time.GetUtcNow().UtcTicks;
        var more = false;
        lock (_table.Lock)
        {
            if (_agents.FreeLocked.Count == 0)
            {
                return;
            }

            var heads = new PriorityQueue<TargetQueue, QueueKey>(QueueKey.Comparer);
            List<string>? empty = null;
            foreach (var queue in _queues.AllLocked)
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

                if (_agents.FreeLocked.Count == 0)
                {
                    break;
                }

                queue.TryPeek(out var job, out _);
                var agent = JobPlacement.ChooseLocked(_agents, queue, job);
                if (agent is null)
                {
                    continue;
                }

                queue.Jobs.Dequeue();
                job.Phase = JobPhase.Leasing;
                job.Attempt++;
                job.Accepted = false;
                job.DisconnectedSinceTicks = 0;
                job.LeaseExpiresTicks = now + job.Record.Timeout.Ticks + _options.LeaseGrace.Ticks;
                _agents.AttachLocked(job, agent);
                placed.Add((job, agent, job.Attempt, job.LeaseExpiresTicks));

                if (queue.TryPeek(out _, out var next))
                {
                    heads.Enqueue(queue, next);
                }
            }

            foreach (var key in empty ?? [])
            {
                _queues.RemoveIfEmptyLocked(key);
            }
        }

        foreach (var (job, agent, attempt, expires) in placed)
        {
            _ = CommitLeaseAsync(job, agent, attempt, expires);
        }

        if (more)
        {
            _signal.Signal();
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
        lock (_table.Lock)
        {
            if (job.Phase != JobPhase.Leasing || job.Attempt != attempt)
            {
                return;
            }

            if (!leased || job.Cancelled)
            {
                _agents.DetachLocked(job);
                job.Attempt = attempt - 1;
                if (storeFailed && !job.Cancelled)
                {
                    _storeFailed = true;
                    _queues.EnqueueLocked(job, job.QueuedAtTicks);
                    _signal.Signal();
                }
                else
                {
                    // Leased but cancelled meanwhile (the store holds it cancelled), or the store refused
                    // the lease because the job is no longer queued there (cancelled first).
                    _table.RemoveLocked(job, finished: false);
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
        lock (_table.Lock)
        {
            job.Sending = false;
            cancel = job.Cancelled && job.Phase == JobPhase.Running && job.Attempt == attempt;
        }

        if (cancel)
        {
            session.Send(new JobCancel(job.Id, (uint)attempt, "cancelled"));
        }
    }
}
