using System.Diagnostics;
using System.Globalization;

namespace Drover.Bench.Internal;

/// <summary>Every job of one bench phase, by index: when its submission started, whether the hub accepted
/// it, when its job frame reached a simulated agent and when that agent got the hub's result ack (the
/// result committed). Files are named <c>{prefix}{index}</c> (for example <c>b-000123</c>) so that an agent
/// maps a job frame back to its submission without waiting for the HTTP answer. Written from the
/// submitters and from every agent's receive loop at once: per-job slots are written with interlocked
/// operations, the counts are interlocked.</summary>
internal sealed class JobTracker
{
    private const int Refused = 2;
    private const int Accepted = 1;

    private readonly long[] _submittedAt;
    private readonly long[] _dispatchedAt;
    private readonly long[] _ackedAt;
    private readonly int[] _state;
    private readonly int _digits;
    private long _accepted;
    private long _refused;
    private long _acked;
    private long _duplicateAcks;
    private long _redelivered;
    private long _firstSubmitAt;
    private long _lastAcceptedAt;
    private long _lastAckAt;

    public JobTracker(string prefix, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Prefix = prefix;
        Count = count;
        _submittedAt = new long[count];
        _dispatchedAt = new long[count];
        _ackedAt = new long[count];
        _state = new int[count];
        _digits = Math.Max(6, (count - 1).ToString(CultureInfo.InvariantCulture).Length);
    }

    public string Prefix { get; }

    public int Count { get; }

    /// <summary>Submit start → result ack received by the agent (the result is committed).</summary>
    public LatencyHistogram EndToEnd { get; } = new();

    /// <summary>Submit start → the job frame reached the agent.</summary>
    public LatencyHistogram Dispatch { get; } = new();

    /// <summary>The agent sent its result → the hub's ack arrived (the hub's result commit).</summary>
    public LatencyHistogram ResultAck { get; } = new();

    /// <summary>One HTTP request, sent → answered.</summary>
    public LatencyHistogram Request { get; } = new();

    public long AcceptedCount => Interlocked.Read(ref _accepted);

    public long RefusedCount => Interlocked.Read(ref _refused);

    /// <summary>Jobs whose result was acknowledged (each counted once).</summary>
    public long AckedCount => Interlocked.Read(ref _acked);

    public long DuplicateAcks => Interlocked.Read(ref _duplicateAcks);

    /// <summary>Job frames for a job an agent had already received (another attempt).</summary>
    public long Redelivered => Interlocked.Read(ref _redelivered);

    /// <summary>Stopwatch timestamps: the first submission's start, the last job accepted, the last result acked (0: none).</summary>
    public long FirstSubmitAt => Interlocked.Read(ref _firstSubmitAt);

    public long LastAcceptedAt => Interlocked.Read(ref _lastAcceptedAt);

    public long LastAckAt => Interlocked.Read(ref _lastAckAt);

    public string NameOf(int index) => Prefix + index.ToString("D" + _digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>The index of a file named by <see cref="NameOf"/>; false for any other name.</summary>
    public bool TryParseIndex(string fileName, out int index)
    {
        index = -1;
        if (!fileName.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var digits = fileName.AsSpan(Prefix.Length);
        if (digits.Length == 0 || digits.Length > 10 || digits.ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out index) && index < Count;
    }

    /// <summary>The submission of jobs <paramref name="first"/> .. first + count − 1 starts (at <paramref name="timestamp"/>,
    /// its intended start when paced).</summary>
    public void Submitting(int first, int count, long timestamp)
    {
        for (var i = first; i < first + count; i++)
        {
            Volatile.Write(ref _submittedAt[i], timestamp);
        }

        Atomic.MinNonZero(ref _firstSubmitAt, timestamp);
    }

    /// <summary>The hub answered 201 for these jobs.</summary>
    public void MarkAccepted(int first, int count, long timestamp)
    {
        for (var i = first; i < first + count; i++)
        {
            if (Interlocked.CompareExchange(ref _state[i], Accepted, 0) == 0)
            {
                Interlocked.Increment(ref _accepted);
            }
        }

        Atomic.Max(ref _lastAcceptedAt, timestamp);
    }

    /// <summary>The hub refused these jobs for good (an error other than 503).</summary>
    public void MarkRefused(int first, int count)
    {
        for (var i = first; i < first + count; i++)
        {
            if (Interlocked.CompareExchange(ref _state[i], Refused, 0) == 0)
            {
                Interlocked.Increment(ref _refused);
            }
        }
    }

    /// <summary>A job frame for job <paramref name="index"/> reached an agent. False when one had already.</summary>
    public bool Dispatched(int index, long timestamp)
    {
        if (Interlocked.CompareExchange(ref _dispatchedAt[index], timestamp, 0) != 0)
        {
            Interlocked.Increment(ref _redelivered);
            return false;
        }

        Dispatch.Record(Elapsed(Volatile.Read(ref _submittedAt[index]), timestamp));
        return true;
    }

    /// <summary>The hub acknowledged job <paramref name="index"/>'s result <paramref name="resultAckLatency"/> after the agent
    /// sent it. False (and counted as a duplicate) when that job already had an ack.</summary>
    public bool Acked(int index, long timestamp, TimeSpan resultAckLatency)
    {
        if (Interlocked.CompareExchange(ref _ackedAt[index], timestamp, 0) != 0)
        {
            Interlocked.Increment(ref _duplicateAcks);
            return false;
        }

        Interlocked.Increment(ref _acked);
        EndToEnd.Record(Elapsed(Volatile.Read(ref _submittedAt[index]), timestamp));
        ResultAck.Record(resultAckLatency);
        Atomic.Max(ref _lastAckAt, timestamp);
        return true;
    }

    /// <summary>Jobs the hub accepted whose result was never acknowledged.</summary>
    public long Lost()
    {
        long lost = 0;
        for (var i = 0; i < Count; i++)
        {
            if (Volatile.Read(ref _state[i]) == Accepted && Volatile.Read(ref _ackedAt[i]) == 0)
            {
                lost++;
            }
        }

        return lost;
    }

    /// <summary>Up to <paramref name="max"/> names of lost jobs, for the failure message.</summary>
    public IReadOnlyList<string> LostNames(int max)
    {
        var names = new List<string>();
        for (var i = 0; i < Count && names.Count < max; i++)
        {
            if (Volatile.Read(ref _state[i]) == Accepted && Volatile.Read(ref _ackedAt[i]) == 0)
            {
                names.Add(NameOf(i));
            }
        }

        return names;
    }

    private static TimeSpan Elapsed(long from, long to) => from == 0 || to < from ? TimeSpan.Zero : Stopwatch.GetElapsedTime(from, to);
}
