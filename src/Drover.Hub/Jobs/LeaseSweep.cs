using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>The leases' sweep, run by the hub's liveness sweep: lease expiry, the disconnect grace of jobs whose
/// agent went away, and the expiry of jobs aimed at one agent that never came; it also starts retention.</summary>
internal sealed class LeaseSweep
{
    private readonly JobTable _table;
    private readonly TargetQueues _queues;
    private readonly AgentSlots _agents;
    private readonly JobAttempts _attempts;
    private readonly JobRetention _retention;
    private readonly JobWriter _writer;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public LeaseSweep(
        JobTable table,
        TargetQueues queues,
        AgentSlots agents,
        JobAttempts attempts,
        JobRetention retention,
        JobWriter writer,
        HubOptions options,
        ILogger<LeaseSweep> logger)
    {
        _table = table;
        _queues = queues;
        _agents = agents;
        _attempts = attempts;
        _retention = retention;
        _writer = writer;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
    }

    /// <summary>Run by the hub's sweep (every second): a running job past its lease expiry is cancelled on its
    /// agent and requeued; a job whose agent has been away for the disconnect grace is requeued; a cancelled
    /// job whose lease expired frees its slot; a job aimed at one agent that stayed offline for the job's
    /// timeout is expired dead. At most once a minute it also starts pruning finished jobs older than
    /// <see cref="HubOptions.KeepFinishedJobs"/> (see <see cref="JobRetention"/>), which runs on after it returns.</summary>
    public void Sweep(CancellationToken cancellationToken)
    {
        _retention.PruneIfDue(cancellationToken);
        var now = _time.GetUtcNow().UtcTicks;
        var requeues = new List<(ActiveJob Job, int Attempt, string Reason)>();
        var cancels = new List<(AgentConnection Session, JobCancel Cancel)>();
        var expiries = new List<(ActiveJob Job, string Reason)>();
        lock (_table.Lock)
        {
            List<ActiveJob>? released = null;
            foreach (var agent in _agents.AllLocked)
            {
                foreach (var job in agent.Jobs)
                {
                    if (job.Phase != JobPhase.Running || job.Requeuing)
                    {
                        continue;
                    }

                    if (job.Cancelled)
                    {
                        if (now >= job.LeaseExpiresTicks)
                        {
                            (released ??= []).Add(job);
                        }

                        continue;
                    }

                    if (now >= job.LeaseExpiresTicks)
                    {
                        var reason = $"timed out: no result within {JobDispatcher.FormatDuration(job.Record.Timeout)}";
                        job.Requeuing = true;
                        requeues.Add((job, job.Attempt, reason));
                        // A session still waiting for its welcome re-announces the attempt after it and is told to cancel then.
                        if (agent.Session is { IsWelcomed: true } session)
                        {
                            cancels.Add((session, new JobCancel(job.Id, (uint)job.Attempt, reason)));
                        }
                    }
                    else if (job.DisconnectedSinceTicks != 0 && now - job.DisconnectedSinceTicks >= _options.DisconnectGrace.Ticks)
                    {
                        job.Requeuing = true;
                        requeues.Add((job, job.Attempt, $"agent {agent.Id} disconnected"));
                    }
                }
            }

            foreach (var job in released ?? [])
            {
                _agents.DetachLocked(job);
                _table.RemoveLocked(job, finished: false);
            }

            foreach (var queue in _queues.AllLocked)
            {
                if (queue.Target.Kind != JobTargetKind.Agent || (_agents.TryGetLocked(queue.Target.AgentId!, out var target) && target.Session is not null && target.Slots > 0))
                {
                    continue;
                }

                foreach (var (job, key) in queue.Jobs.UnorderedItems)
                {
                    if (job.Phase == JobPhase.Queued && job.QueueStamp == key.Stamp && now - job.QueuedAtTicks >= job.Record.Timeout.Ticks)
                    {
                        job.Phase = JobPhase.Expiring;
                        expiries.Add((job, $"agent {queue.Target.AgentId} did not come online within {JobDispatcher.FormatDuration(job.Record.Timeout)}"));
                    }
                }
            }
        }

        foreach (var (session, cancel) in cancels)
        {
            session.Send(cancel);
        }

        foreach (var (job, attempt, reason) in requeues)
        {
            _ = _attempts.CommitRequeueAsync(job, attempt, reason);
        }

        foreach (var (job, reason) in expiries)
        {
            _ = CommitExpiryAsync(job, reason);
        }
    }

    private async Task CommitExpiryAsync(ActiveJob job, string reason)
    {
        bool expired;
        try
        {
            expired = await _writer.ExpireAsync(new JobExpiry(job.Id, reason)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged by the writer: back to the queue; the next sweep tries again.
            lock (_table.Lock)
            {
                if (job.Phase == JobPhase.Expiring)
                {
                    _queues.EnqueueLocked(job, job.QueuedAtTicks);
                }
            }

            return;
        }

        lock (_table.Lock)
        {
            if (job.Phase == JobPhase.Expiring)
            {
                // Not expired: it was no longer queued in the store (cancelled meanwhile).
                _table.RemoveLocked(job, finished: expired);
            }
        }

        if (expired)
        {
            Log.JobDead(_logger, job.Id, job.Attempt, LogText.Escape(reason, LogText.LongTextMaxLength));
        }
    }
}
