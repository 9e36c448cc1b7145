using Drover.Hub.Connections;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>The dispatch loop: one placement pass per wake-up of the <see cref="PlacementSignal"/>, which places as
/// many queued jobs as there are free agents for them (chosen by <see cref="JobPlacement"/>), then takes each placed
/// job's file from memory (where the table kept it within its content budget) or reads it from the store, commits each
/// lease through the group commit and sends the job frame once it is committed. Neither the reads nor the leases are
/// awaited by the loop, so many are in flight at once.</summary>
internal sealed class DispatchLoop
{
    /// <summary>Placements per pass before the lock is released (the loop then runs another pass).</summary>
    private const int PlacementsPerPass = 1024;

    /// <summary>The most file bytes read from the store at once (a larger file is read alone)...</summary>
    private const long ContentBatchBytes = 4L << 20;

    /// <summary>...and the most jobs.</summary>
    private const int ContentBatchJobs = 256;

    private static readonly TimeSpan PauseAfterStoreFailure = TimeSpan.FromSeconds(1);

    private readonly JobTable _table;
    private readonly TargetQueues _queues;
    private readonly AgentSlots _agents;
    private readonly PlacementSignal _signal;
    private readonly JobWriter _writer;
    private readonly IJobStore _store;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly Metrics.HubMetrics _metrics;
    private readonly ILogger _logger;
    private readonly StoreFailureLog _readFailures;
    private volatile bool _storeFailed;

    public DispatchLoop(JobTable table, TargetQueues queues, AgentSlots agents, PlacementSignal signal, JobWriter writer, IJobStore store, HubOptions options, Metrics.HubMetrics metrics, ILogger<DispatchLoop> logger)
    {
        _table = table;
        _queues = queues;
        _agents = agents;
        _signal = signal;
        _writer = writer;
        _store = store;
        _readFailures = new StoreFailureLog(options.TimeProvider);
        _options = options;
        _time = options.TimeProvider;
        _metrics = metrics;
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
        var placed = new List<Placement>();
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
                placed.Add(new Placement(job, agent, job.Attempt, job.LeaseExpiresTicks, _table.TakeContentLocked(job)));

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

        List<Placement>? toRead = null;
        foreach (var placement in placed)
        {
            if (placement.Content is { } content)
            {
                _ = CommitLeaseAsync(placement.Job, placement.Agent, placement.Attempt, placement.ExpiresTicks, content);
            }
            else
            {
                (toRead ??= []).Add(placement);
            }
        }

        if (toRead is not null)
        {
            // Off the loop: SQLite's reads complete synchronously.
            _ = Task.Run(() => ReadAndLeaseAsync(toRead));
        }

        if (more)
        {
            _signal.Signal();
        }
    }

    /// <summary>Reads the files of placed jobs that memory did not keep from the store, at most
    /// <see cref="ContentBatchBytes"/> and <see cref="ContentBatchJobs"/> at a time, and starts each batch's lease commits
    /// as soon as its files are read. A job whose file is not in the store (it was deleted meanwhile) leaves memory; a
    /// failed read puts the batch back in the queue and pauses the loop a second, as a failed lease does.</summary>
    private async Task ReadAndLeaseAsync(List<Placement> placed)
    {
        for (var start = 0; start < placed.Count;)
        {
            var end = start;
            long bytes = 0;
            while (end < placed.Count && end - start < ContentBatchJobs && (end == start || bytes + placed[end].Job.Size <= ContentBatchBytes))
            {
                bytes += placed[end].Job.Size;
                end++;
            }

            var ids = new string[end - start];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = placed[start + i].Job.Id;
            }

            IReadOnlyList<byte[]?>? contents = null;
            try
            {
                contents = await _store.LoadContentAsync(ids, CancellationToken.None).ConfigureAwait(false);
                lock (_readFailures)
                {
                    _readFailures.Success(out _, out _);
                }
            }
            catch (Exception ex)
            {
                int failures;
                bool log;
                lock (_readFailures)
                {
                    log = _readFailures.Failure(ex, out failures);
                }

                if (log)
                {
                    Log.JobContentReadFailed(_logger, ids.Length, failures, ex.Message, ex is StoreException ? null : ex);
                }
            }

            for (var i = start; i < end; i++)
            {
                var (job, agent, attempt, expires, _) = placed[i];
                if (contents?[i - start] is { } content)
                {
                    _ = CommitLeaseAsync(job, agent, attempt, expires, content);
                }
                else
                {
                    UndoPlacement(job, attempt, storeFailed: contents is null);
                }
            }

            start = end;
        }
    }

    /// <summary>Commits a lease, then sends the job frame with <paramref name="content"/> (or puts the job back when the
    /// lease was not made).</summary>
    private async Task CommitLeaseAsync(ActiveJob job, JobAgent agent, int attempt, long expiresTicks, byte[] content)
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

        if (!leased)
        {
            UndoPlacement(job, attempt, storeFailed);
            return;
        }

        AgentConnection? session;
        Job frame;
        lock (_table.Lock)
        {
            if (job.Phase != JobPhase.Leasing || job.Attempt != attempt)
            {
                return;
            }

            if (job.Cancelled)
            {
                // Leased but cancelled meanwhile: the store holds it cancelled.
                UndoPlacementLocked(job, attempt, storeFailed: false);
                return;
            }

            job.Phase = JobPhase.Running;
            job.LeasedAtTicks = _time.GetUtcNow().UtcTicks;
            _metrics.JobLeased(TimeSpan.FromTicks(job.LeasedAtTicks - job.QueuedAtTicks));
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
                content);
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

    /// <summary>Takes back a placement whose lease was not made: after a store failure (a read or the lease's commit) the
    /// job goes back to its queue and the loop pauses; otherwise (the store refused the lease or has no file for it: the
    /// job is no longer queued there, cancelled first) it leaves memory. A file memory had kept is read from the store
    /// when the job is placed again.</summary>
    private void UndoPlacement(ActiveJob job, int attempt, bool storeFailed)
    {
        lock (_table.Lock)
        {
            UndoPlacementLocked(job, attempt, storeFailed);
        }
    }

    private void UndoPlacementLocked(ActiveJob job, int attempt, bool storeFailed)
    {
        if (job.Phase != JobPhase.Leasing || job.Attempt != attempt)
        {
            return;
        }

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
            _table.RemoveLocked(job, finished: false);
        }
    }

    /// <summary>One job placed on an agent by a pass, for <paramref name="Attempt"/>, its lease to run until
    /// <paramref name="ExpiresTicks"/>, with its file when memory kept it (null: read it from the store).</summary>
    private readonly record struct Placement(ActiveJob Job, JobAgent Agent, int Attempt, long ExpiresTicks, byte[]? Content);
}
