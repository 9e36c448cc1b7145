using System.Collections.Concurrent;

namespace Drover.Hub.Fleet;

/// <summary>Admits hellos at a bounded rate. Within the rate (with a burst of one second's worth) an
/// agent is admitted at once. Beyond it, the agent is given its own future moment, one 1/rate apart
/// from the previous one, and refused with a retry-after that points at it; when it returns at that
/// moment it is admitted without competing again. So ten thousand agents that reconnect at once are
/// let in at the rate, in an order, instead of all retrying together.</summary>
internal sealed class AdmissionControl
{
    private readonly TimeProvider _time;
    private readonly long _spacingTicks;
    private readonly long _burstTicks;
    private readonly ConcurrentDictionary<string, long> _reservations = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _theoreticalArrival;

    public AdmissionControl(int perSecond, TimeProvider time)
    {
        _time = time;
        _spacingTicks = TimeSpan.TicksPerSecond / perSecond;
        _burstTicks = TimeSpan.TicksPerSecond;
    }

    /// <summary>How many agents hold a reservation now.</summary>
    public int Waiting => _reservations.Count;

    /// <summary>Returns true to admit; otherwise <paramref name="retryAfter"/> is when to come back.</summary>
    public bool TryAdmit(string agentId, out TimeSpan retryAfter)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_reservations.TryGetValue(agentId, out var reserved))
        {
            // Early by up to a quarter second still counts: clocks and timers are not exact.
            if (now >= reserved - TimeSpan.TicksPerSecond / 4)
            {
                _reservations.TryRemove(agentId, out _);
                retryAfter = TimeSpan.Zero;
                return true;
            }

            retryAfter = TimeSpan.FromTicks(reserved - now);
            return false;
        }

        lock (_lock)
        {
            var next = Math.Max(_theoreticalArrival, now);
            _theoreticalArrival = next + _spacingTicks;
            if (next - now <= _burstTicks)
            {
                retryAfter = TimeSpan.Zero;
                return true;
            }

            _reservations[agentId] = next;
            retryAfter = TimeSpan.FromTicks(next - now);
            return false;
        }
    }

    /// <summary>Drops reservations whose agents never came back (called by the sweep).</summary>
    public void ExpireReservations()
    {
        var cutoff = _time.GetUtcNow().UtcTicks - TimeSpan.TicksPerMinute;
        foreach (var (id, at) in _reservations)
        {
            if (at < cutoff)
            {
                _reservations.TryRemove(id, out _);
            }
        }
    }
}
