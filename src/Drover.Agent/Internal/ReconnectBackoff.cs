namespace Drover.Agent.Internal;

/// <summary>Reconnect delays: exponential growth with full jitter that survives the cap.
/// <para>Attempt <c>n</c> (from 0) has the ceiling <c>c = min(cap, base * 2^n)</c> and draws its delay
/// uniformly from <c>[min(base/2, c), c]</c>. The floor of half the base keeps a flapping hub from
/// being hammered in a tight loop; above it the draw is full jitter. Unlike clients that add a small
/// jitter on top of a capped delay (or jitter the exponent and then clamp), every attempt at the cap
/// still draws from the whole range <c>[base/2, cap]</c>, so when ten thousand agents lose a hub at
/// once their retries stay spread over the full cap window instead of arriving together every
/// <c>cap</c> seconds. The attempt counter stops growing once the ceiling reaches the cap (no overflow)
/// and is reset by a successful welcome.</para>
/// <para>Not thread-safe: one instance per agent, used from the agent's run loop only.</para></summary>
internal sealed class ReconnectBackoff
{
    private readonly TimeSpan _base;
    private readonly TimeSpan _cap;

    public ReconnectBackoff(TimeSpan baseDelay, TimeSpan cap)
    {
        if (baseDelay <= TimeSpan.Zero || cap < baseDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(cap), "need 0 < base <= cap");
        }

        _base = baseDelay;
        _cap = cap;
    }

    /// <summary>Failed attempts since the last reset.</summary>
    public int Attempt { get; private set; }

    public TimeSpan Base => _base;

    public TimeSpan Cap => _cap;

    /// <summary>The lowest delay <see cref="Next"/> ever returns.</summary>
    public TimeSpan Floor => _base / 2;

    /// <summary>The ceiling of the next draw.</summary>
    public TimeSpan Ceiling
    {
        get
        {
            // 2^30 * base exceeds any sensible cap; the counter stops growing at the cap anyway.
            var factor = Math.Pow(2, Math.Min(Attempt, 30));
            var ceiling = _base.TotalMilliseconds * factor;
            return ceiling >= _cap.TotalMilliseconds ? _cap : TimeSpan.FromMilliseconds(ceiling);
        }
    }

    /// <summary>Draws the next delay and counts one more attempt.</summary>
    public TimeSpan Next(Random random)
    {
        var ceiling = Ceiling;
        var floor = Floor < ceiling ? Floor : ceiling;
        if (ceiling < _cap)
        {
            Attempt++;
        }

        return floor + ((ceiling - floor) * random.NextDouble());
    }

    /// <summary>A delay that honours a hub's retry-after: at least <paramref name="minimum"/> plus a little
    /// jitter (up to the larger of the base and a fifth of <paramref name="minimum"/>) so agents told the
    /// same retry-after do not return together; and no shorter than the ordinary <see cref="Next"/> draw.</summary>
    public TimeSpan NextAtLeast(TimeSpan minimum, Random random)
    {
        var regular = Next(random);
        if (minimum <= TimeSpan.Zero)
        {
            return regular;
        }

        var spread = minimum / 5 > _base ? minimum / 5 : _base;
        var hinted = minimum + (spread * random.NextDouble());
        return hinted > regular ? hinted : regular;
    }

    /// <summary>Called on a successful welcome: the next failure starts from the base again.</summary>
    public void Reset() => Attempt = 0;
}
