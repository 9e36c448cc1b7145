using Drover.Hub.Connections;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>What agents say about the attempts leased to them (job_accepted, job_busy, job_result), and giving an
/// attempt up (busy, lease expired, agent gone): each change committed through the group commit, memory following
/// what the store answered. A failed attempt is retried on another agent, or the job ends dead when its retries are
/// used up. An attempt belongs to the agent id it was leased to (a later session of the same id carries it on): a
/// message about an attempt leased to another agent id changes nothing and is counted in <see cref="Foreign"/>.</summary>
internal sealed class JobAttempts
{
    /// <summary>What the hub answers to job_accepted for an attempt it does not hold for that agent.</summary>
    internal const string NotLeasedReason = "no longer leased to this agent";

    private readonly JobTable _table;
    private readonly TargetQueues _queues;
    private readonly AgentSlots _agents;
    private readonly PlacementSignal _signal;
    private readonly JobWriter _writer;
    private readonly TimeProvider _time;
    private readonly Metrics.HubMetrics _metrics;
    private readonly ILogger _logger;

    public JobAttempts(JobTable table, TargetQueues queues, AgentSlots agents, PlacementSignal signal, JobWriter writer, TimeProvider time, Metrics.HubMetrics metrics, ILogger<JobAttempts> logger)
    {
        Foreign = new ForeignJobMessages(time, logger);
        _table = table;
        _queues = queues;
        _agents = agents;
        _signal = signal;
        _writer = writer;
        _time = time;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Messages about attempts leased to another agent id, refused.</summary>
    public ForeignJobMessages Foreign { get; }

    /// <summary>job_accepted: for the attempt the hub holds for this agent it marks it accepted and keeps the
    /// lease (after a reconnect this is the re-announcement that ends the disconnect grace); for anything else
    /// the agent is told to cancel it.</summary>
    public void OnAccepted(AgentConnection session, JobAccepted accepted)
    {
        var agentId = session.Entry!.Id;
        string? cancelReason = NotLeasedReason;
        string? owner;
        lock (_table.Lock)
        {
            if (TryGetForeignOwnerLocked(accepted.JobId, accepted.Attempt, agentId, out owner))
            {
                // Not this agent's: the answer is the same as for any attempt it does not hold.
            }
            else if (TryGetHeldLocked(accepted.JobId, accepted.Attempt, agentId, out var job))
            {
                if (job.Cancelled)
                {
                    cancelReason = "cancelled";
                }
                else
                {
                    job.Accepted = true;
                    job.DisconnectedSinceTicks = 0;
                    cancelReason = null;
                }
            }
        }

        if (owner is not null)
        {
            Foreign.Refused("job_accepted", agentId, accepted.JobId, accepted.Attempt, owner);
        }

        if (cancelReason is not null)
        {
            session.Send(new JobCancel(accepted.JobId, accepted.Attempt, cancelReason));
        }
    }

    /// <summary>The job whose running <paramref name="attempt"/> the hub holds for <paramref name="agentId"/>
    /// (and is not giving up). Call under <see cref="JobTable.Lock"/>.</summary>
    private bool TryGetHeldLocked(string jobId, uint attempt, string agentId, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out ActiveJob job) =>
        _table.TryGetLocked(jobId, out job)
        && job.Phase == JobPhase.Running
        && job.Attempt == attempt
        && job.Owner?.Id == agentId
        && !job.Requeuing;

    /// <summary>The agent id that (<paramref name="jobId"/>, <paramref name="attempt"/>) is leased to when that is the
    /// job's current attempt and another agent than <paramref name="agentId"/> holds it: a message about it from
    /// <paramref name="agentId"/> is foreign. Call under <see cref="JobTable.Lock"/>.</summary>
    private bool TryGetForeignOwnerLocked(string jobId, uint attempt, string agentId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? owner)
    {
        owner = _table.TryGetLocked(jobId, out var job) && job.Attempt == attempt && job.Owner is { } holder && !string.Equals(holder.Id, agentId, StringComparison.Ordinal)
            ? holder.Id
            : null;
        return owner is not null;
    }

    /// <summary>job_busy: the agent did not take the attempt; it goes back to the queue (elsewhere when
    /// possible). It counts as an attempt (the store records it as one), so an agent that keeps answering busy
    /// cannot hold a job forever.</summary>
    public void OnBusy(AgentConnection session, JobBusy busy)
    {
        var agentId = session.Entry!.Id;
        ActiveJob? requeue = null;
        string? owner;
        lock (_table.Lock)
        {
            if (TryGetForeignOwnerLocked(busy.JobId, busy.Attempt, agentId, out owner))
            {
                // Not this agent's: ignored like any busy for an attempt it does not hold.
            }
            else if (TryGetHeldLocked(busy.JobId, busy.Attempt, agentId, out var job))
            {
                if (job.Cancelled)
                {
                    _agents.DetachLocked(job);
                    _table.RemoveLocked(job, finished: false);
                }
                else
                {
                    job.Requeuing = true;
                    requeue = job;
                }
            }
        }

        if (owner is not null)
        {
            Foreign.Refused("job_busy", agentId, busy.JobId, busy.Attempt, owner);
        }

        if (requeue is not null)
        {
            var reason = string.IsNullOrEmpty(busy.Reason) ? $"agent {agentId} was busy" : $"agent {agentId} was busy: {busy.Reason}";
            _ = CommitRequeueAsync(requeue, (int)busy.Attempt, reason);
        }
    }

    /// <summary>job_result: committed through the group commit, then acknowledged whatever the store said
    /// (recorded, duplicate, stale, unknown, not running); memory follows a recorded result: done frees the
    /// slot, a failure is retried on another agent or ends dead. If the store fails (a full disk) the result is not
    /// acknowledged and the hub tries the commit again after 1, 2, 4, then every 5 s for as long as the session
    /// lasts, so the agent stays connected and keeps reporting; if the session ends first, the agent sends the
    /// result again after reconnecting. Anything but a store failure closes the session (bye InternalError). A result
    /// for an attempt leased to another agent id is refused before the store sees it: not recorded, not acknowledged,
    /// counted in <see cref="Foreign"/>; the session goes on.</summary>
    public async Task OnResultAsync(AgentConnection session, JobResult result)
    {
        var agentId = session.Entry!.Id;
        string? owner;
        lock (_table.Lock)
        {
            TryGetForeignOwnerLocked(result.JobId, result.Attempt, agentId, out owner);
        }

        if (owner is not null)
        {
            Foreign.Refused("job_result", agentId, result.JobId, result.Attempt, owner);
            return;
        }

        var success = result.Outcome == JobOutcome.Completed && result.ExitCode == 0;
        var record = new JobResultRecord
        {
            JobId = result.JobId,
            Attempt = (int)Math.Min(result.Attempt, int.MaxValue),
            AgentId = agentId,
            Outcome = OutcomeName(result.Outcome),
            ExitCode = result.Outcome == JobOutcome.Completed ? result.ExitCode : null,
            DurationMs = result.DurationMs,
            StdoutTail = AsArray(result.StdoutTail),
            StderrTail = AsArray(result.StderrTail),
            OutFile = AsArray(result.OutFile),
            Error = result.Error,
            RecordedAt = _time.GetUtcNow(),
        };

        var failureReason = success ? null : FailureReason(result);
        Interlocked.Increment(ref session.PendingResults);
        try
        {
            ResultRecording recording;
            var tries = 0;
            while (true)
            {
                try
                {
                    recording = await _writer.ResultAsync(new JobResultSubmission(record, success, failureReason)).ConfigureAwait(false);
                    break;
                }
                catch (StoreException) when (!session.IsClosed)
                {
                    // Logged by the writer. Reconnecting would not help (the agent would be welcomed, resend, and be
                    // closed again, about twice a second, its backoff reset by every welcome), so wait here.
                    await Task.Delay(StoreFailureLog.RetryDelay(++tries), _time).ConfigureAwait(false);
                    if (session.IsClosed)
                    {
                        return;
                    }
                }
                catch (Exception)
                {
                    // Not acknowledged, and the session ends: an agent resends its unacknowledged results after
                    // reconnecting, not within one session.
                    session.Close(DisconnectReason.InternalError, ErrorCode.InternalError, "the hub could not store a job result; reconnect and send it again");
                    return;
                }
            }

            ApplyResult(record, success, failureReason, recording);
            session.Send(new JobResultAck(result.JobId, result.Attempt));
        }
        finally
        {
            Interlocked.Decrement(ref session.PendingResults);
        }
    }

    private void ApplyResult(JobResultRecord result, bool success, string? failureReason, ResultRecording recording)
    {
        lock (_table.Lock)
        {
            if (!_table.TryGetLocked(result.JobId, out var job)
                || job.Attempt != result.Attempt
                || job.Phase != JobPhase.Running
                || !string.Equals(job.Owner?.Id, result.AgentId, StringComparison.Ordinal))
            {
                return;
            }

            if (job.Cancelled)
            {
                // The agent stopped it: its slot is free, and the job is final in the store.
                _agents.DetachLocked(job);
                _table.RemoveLocked(job, finished: false);
                return;
            }

            if (recording != ResultRecording.Recorded)
            {
                return;
            }

            if (job.LeasedAtTicks != 0)
            {
                _metrics.JobResult(TimeSpan.FromTicks(_time.GetUtcNow().UtcTicks - job.LeasedAtTicks));
            }

            _agents.DetachLocked(job);
            if (success)
            {
                _table.RemoveLocked(job, finished: true);
            }
            else if (job.Attempt > job.Record.MaxRetries)
            {
                _table.RemoveLocked(job, finished: true);
                Log.JobDead(_logger, job.Id, job.Attempt, LogText.Escape(failureReason ?? result.Outcome, LogText.LongTextMaxLength));
            }
            else
            {
                job.AvoidAgent = result.AgentId;
                _queues.EnqueueLocked(job, _time.GetUtcNow().UtcTicks);
                _signal.Signal();
            }
        }
    }

    /// <summary>Commits giving up the running attempt (busy, lease expired, agent gone); when the store
    /// did it, the job is queued again avoiding that agent, or is dead when its retries are used up.</summary>
    public async Task CommitRequeueAsync(ActiveJob job, int attempt, string reason)
    {
        int requeued;
        try
        {
            requeued = await _writer.RequeueAsync(new JobRequeue(job.Id, attempt, reason)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged by the writer; the next sweep tries again.
            lock (_table.Lock)
            {
                job.Requeuing = false;
            }

            return;
        }

        lock (_table.Lock)
        {
            job.Requeuing = false;
            if (requeued != 1 || job.Phase != JobPhase.Running || job.Attempt != attempt)
            {
                // A result (or a cancel) got there first; its own path updates memory.
                return;
            }

            var owner = job.Owner;
            _agents.DetachLocked(job);
            if (job.Cancelled)
            {
                _table.RemoveLocked(job, finished: false);
            }
            else if (attempt > job.Record.MaxRetries)
            {
                _table.RemoveLocked(job, finished: true);
                Log.JobDead(_logger, job.Id, attempt, LogText.Escape(reason, LogText.LongTextMaxLength));
            }
            else
            {
                job.AvoidAgent = owner?.Id;
                _queues.EnqueueLocked(job, _time.GetUtcNow().UtcTicks);
                Log.JobRequeued(_logger, job.Id, attempt, LogText.Escape(reason, LogText.LongTextMaxLength));
                _signal.Signal();
            }
        }
    }

    /// <summary>Why a failed result failed, in words (the job's dead reason when it was its last attempt): the exit code
    /// for a handler that completed, else the outcome's name, then the agent's error text if it sent one. Examples:
    /// "exit code 3", "hash-mismatch: sha256 of the 17 bytes received is …", "timed-out: killed at the timeout of 2000 ms".</summary>
    internal static string FailureReason(JobResult result)
    {
        var what = result.Outcome == JobOutcome.Completed
            ? "exit code " + result.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : OutcomeName(result.Outcome);
        return string.IsNullOrEmpty(result.Error) ? what : what + ": " + result.Error;
    }

    /// <summary>The decoded message's own array (the decoder copied it out of the read buffer), else a copy.</summary>
    private static byte[] AsArray(ReadOnlyMemory<byte> bytes) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var segment)
        && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : bytes.ToArray();

    /// <summary>The outcome's name in the store, the API and the CLI.</summary>
    internal static string OutcomeName(JobOutcome outcome) => outcome switch
    {
        JobOutcome.Completed => "completed",
        JobOutcome.TimedOut => "timed-out",
        JobOutcome.HashMismatch => "hash-mismatch",
        JobOutcome.StartFailed => "start-failed",
        JobOutcome.Cancelled => "cancelled",
        _ => outcome.ToString().ToLowerInvariant(),
    };
}
