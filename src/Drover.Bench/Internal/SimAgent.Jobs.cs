using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Drover.Protocol;

namespace Drover.Bench.Internal;

/// <summary>Job mode: a no-op handler. Each job frame is answered at once (never with job_busy), from the receive loop, with
/// job_accepted and then job_result (completed, exit 0, a tiny stdout) after the SHA-256 check a real agent
/// makes (a mismatch is answered with outcome hash-mismatch and counted). The job is held until the hub's
/// job_result_ack, which marks it done in the fleet's <see cref="JobTracker"/>. Replies to all the frames of
/// one receive go out in one send. Only the receive loop touches <c>_jobs</c> and <c>_tx</c>.</summary>
internal sealed partial class SimAgent
{
    /// <summary>The job-mode receive buffer: a dozen 4 KiB job frames per receive; it grows for larger frames.</summary>
    private const int JobReceiveBuffer = 64 * 1024;

    private Dictionary<string, HeldJob>? _jobs;
    private FrameBatch? _tx;

    /// <summary>Jobs this agent holds now (result sent, ack not yet received).</summary>
    public int JobsHeld => _jobs?.Count ?? 0;

    /// <summary>Handles a job frame; false for any other frame (and for every frame outside job mode).</summary>
    private bool TryHandleJobFrame(MessageType type, ReadOnlySpan<byte> payload)
    {
        if (_fleet.JobSlots == 0)
        {
            return false;
        }

        switch (type)
        {
            case MessageType.Job:
                OnJob((Job)FrameCodec.Decode(type, payload));
                return true;
            case MessageType.JobResultAck:
                OnResultAck((JobResultAck)FrameCodec.Decode(type, payload));
                return true;
            case MessageType.JobCancel:
                // Every job here finished at once: a cancel always comes after the result (rule 9: ignored).
                Interlocked.Increment(ref _fleet.Counters.Cancels);
                return true;
            default:
                return false;
        }
    }

    private void OnJob(Job job)
    {
        // A real agent's slot is free once its handler ends, and this handler ends at once: it takes every job.
        // The hub frees a slot when it commits the result and may send the next job before that result's ack
        // arrives, so holding job_slots unacknowledged results here is not a breach of rule 1; it is counted.
        var jobs = _jobs ??= new Dictionary<string, HeldJob>(_fleet.JobSlots, StringComparer.Ordinal);
        if (!jobs.ContainsKey(job.JobId) && jobs.Count >= _fleet.JobSlots)
        {
            Interlocked.Increment(ref _fleet.Counters.JobsBeforeAck);
        }

        Atomic.Max(ref _fleet.Counters.MaxHeld, jobs.Count + 1);

        var tracker = _fleet.Jobs;
        if (tracker is not null && tracker.TryParseIndex(job.FileName, out var index))
        {
            tracker.Dispatched(index, Stopwatch.GetTimestamp());
        }
        else
        {
            index = -1;
            Interlocked.Increment(ref _fleet.Counters.UnknownJobs);
        }

        Span<byte> digest = stackalloc byte[ProtocolConstants.Sha256Length];
        SHA256.HashData(job.Content.Span, digest);
        var outcome = JobOutcome.Completed;
        if (!digest.SequenceEqual(job.Sha256))
        {
            outcome = JobOutcome.HashMismatch;
            Interlocked.Increment(ref _fleet.Counters.HashMismatches);
        }

        Append(new JobAccepted(job.JobId, job.Attempt));
        Append(HeldJob.ResultOf(job.JobId, job.Attempt, outcome));
        jobs[job.JobId] = new HeldJob(tracker, index, job.Attempt, outcome, Stopwatch.GetTimestamp());
    }

    private void OnResultAck(JobResultAck ack)
    {
        if (_jobs is null || !_jobs.TryGetValue(ack.JobId, out var held) || held.Attempt != ack.Attempt)
        {
            Interlocked.Increment(ref _fleet.Counters.UnexpectedAcks);
            return;
        }

        _jobs.Remove(ack.JobId);
        if (held.Tracker is { } tracker && held.Index >= 0 && held.Outcome == JobOutcome.Completed)
        {
            var now = Stopwatch.GetTimestamp();
            tracker.Acked(held.Index, now, Stopwatch.GetElapsedTime(held.ResultSentAt, now));
        }
    }

    /// <summary>Rule 6: right after a welcome, every result not yet acknowledged is sent again (the no-op
    /// handler has nothing still running, so there is no job_accepted to repeat).</summary>
    private void ReannounceJobs()
    {
        if (_jobs is not { Count: > 0 } jobs)
        {
            return;
        }

        foreach (var (jobId, held) in jobs)
        {
            Append(HeldJob.ResultOf(jobId, held.Attempt, held.Outcome));
        }

        FlushJobReplies();
    }

    /// <summary>Queues a reply for the next <see cref="FlushJobReplies"/>.</summary>
    private void Append(Message message) => (_tx ??= new FrameBatch()).Append(message);

    /// <summary>Sends the queued replies in one send (before the receive loop waits again).</summary>
    private void FlushJobReplies()
    {
        if (_tx is not { Length: > 0 } tx || _socket is not { } socket)
        {
            return;
        }

        lock (_sendLock)
        {
            try
            {
                Write(socket, tx.Written);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
            {
                // The connection broke: the receive loop sees it next; the held jobs are re-announced after the reconnect.
            }
        }

        tx.Clear();
    }

    private void DropJobReplies() => _tx?.Clear();
}
