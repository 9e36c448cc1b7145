using Drover.Protocol;

namespace Drover.Bench.Internal;

/// <summary>Frames queued to go out in one send: each encoded at the end of one buffer, which grows as needed and is kept
/// for the next batch. Not thread-safe: one owner (a simulated agent's receive loop).</summary>
internal sealed class FrameBatch
{
    private byte[] _buffer = [];

    /// <summary>Bytes queued.</summary>
    public int Length { get; private set; }

    /// <summary>The queued frames' bytes.</summary>
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    public void Append(Message message)
    {
        var size = FrameCodec.GetFrameSize(message);
        if (Length + size > _buffer.Length)
        {
            var grown = new byte[Math.Max(Math.Max(4096, Length + size), _buffer.Length * 2)];
            _buffer.AsSpan(0, Length).CopyTo(grown);
            _buffer = grown;
        }

        Length += FrameCodec.Write(message, _buffer.AsSpan(Length));
    }

    /// <summary>Forgets the queued frames (sent, or dropped with the connection).</summary>
    public void Clear() => Length = 0;
}

/// <summary>A job a simulated agent holds: its result was sent and is not yet acknowledged.</summary>
internal readonly record struct HeldJob(JobTracker? Tracker, int Index, uint Attempt, JobOutcome Outcome, long ResultSentAt)
{
    private static readonly byte[] NoOpStdout = "ok\n"u8.ToArray();

    /// <summary>The no-op handler's result: completed, exit 0, a tiny stdout; or the hash mismatch a real agent reports.</summary>
    public static JobResult ResultOf(string jobId, uint attempt, JobOutcome outcome) => outcome == JobOutcome.Completed
        ? new JobResult(jobId, attempt, outcome, 0, 0, NoOpStdout, default, default, string.Empty)
        : new JobResult(jobId, attempt, outcome, -1, 0, default, default, default, "sha-256 of the file does not match the job's");
}
