using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>Job messages (job_result, job_accepted, job_busy) from an agent for an attempt the hub leased to a
/// different agent id: never acted on (see <see cref="JobAttempts"/>), counted since start (<c>jobs.foreignMessages</c>
/// in /api/stats), and logged at most once a minute with how many arrived since the previous line, so an agent that
/// keeps sending them cannot flood the log.</summary>
internal sealed class ForeignJobMessages(TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private long _total;
    private int _sinceLine;
    private long _lastLineTicks;
    private bool _logged;

    /// <summary>Foreign job messages refused since start.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Counts one refused message: <paramref name="message"/> ("job_result", …) from
    /// <paramref name="agentId"/> for (<paramref name="jobId"/>, <paramref name="attempt"/>), leased to
    /// <paramref name="ownerId"/>; logs it when no line was written in the last minute. The total counts the
    /// message only once its line (if any) is written, so whoever sees the count also finds the line.</summary>
    public void Refused(string message, string agentId, string jobId, long attempt, string ownerId)
    {
        int count;
        lock (_lock)
        {
            _sinceLine++;
            var now = time.GetUtcNow().UtcTicks;
            if (_logged && now - _lastLineTicks < LogEvery.Ticks)
            {
                Interlocked.Increment(ref _total);
                return;
            }

            _logged = true;
            _lastLineTicks = now;
            count = _sinceLine;
            _sinceLine = 0;
        }

        Log.ForeignJobMessage(logger, message, LogText.Escape(agentId), LogText.Escape(jobId), attempt, LogText.Escape(ownerId), count);
        Interlocked.Increment(ref _total);
    }
}
