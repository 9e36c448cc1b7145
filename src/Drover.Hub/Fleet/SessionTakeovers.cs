using System.Collections.Concurrent;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Fleet;

/// <summary>Watches for an agent id that flaps between two connection sources: two agents that share an id (two
/// agents on one machine that both defaulted to its name) replace each other's session every half minute, each
/// closed with SessionReplaced and back after its backoff, and neither says so. A takeover is a hello that
/// replaces a session still attached to the id, from another connection. One takeover is a reconnect the hub
/// had not noticed yet; <see cref="Threshold"/> of them within <see cref="Window"/> is flapping: from that one on,
/// each takeover within the window is counted as a flap (per agent id and in total, since the hub started) and the
/// id is logged at most once a minute, with both sources. Costs nothing for an agent that was never taken over
/// (its history is made at its first takeover).</summary>
internal sealed class SessionTakeovers(TimeProvider time, ILogger logger)
{
    /// <summary>How many takeovers within <see cref="Window"/> make an id flap.</summary>
    public const int Threshold = 3;

    /// <summary>The window: two agents with the Drover agent's backoff cap (30 s, plus up to 6 s of jitter) take
    /// over about every 33 s, so the third takeover comes about 100 s after the first.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, History> _agents = new(StringComparer.Ordinal);
    private long _totalFlaps;

    /// <summary>Flaps counted since start, over every agent id.</summary>
    public long TotalFlaps => Interlocked.Read(ref _totalFlaps);

    /// <summary>Flaps counted since start for <paramref name="agentId"/>.</summary>
    public long FlapsOf(string agentId)
    {
        if (!_agents.TryGetValue(agentId, out var history))
        {
            return 0;
        }

        lock (history)
        {
            return history.Flaps;
        }
    }

    /// <summary>A session from <paramref name="newSource"/> took <paramref name="agentId"/> over from a session from
    /// <paramref name="oldSource"/> that was still attached. True when this takeover counted as a flap.</summary>
    public bool OnTakeover(string agentId, string oldSource, string newSource)
    {
        var history = _agents.GetOrAdd(agentId, static _ => new History());
        var now = time.GetUtcNow().UtcTicks;
        int count;
        lock (history)
        {
            // A ring of the last Threshold takeovers: after the write, the next slot holds the oldest of them.
            history.Times[history.Next] = now;
            history.Next = (history.Next + 1) % Threshold;
            history.Seen = Math.Min(history.Seen + 1, Threshold);
            if (history.Seen < Threshold || now - history.Times[history.Next] > Window.Ticks)
            {
                return false;
            }

            history.Flaps++;
            Interlocked.Increment(ref _totalFlaps);
            history.SinceLine++;
            if (history.Logged && now - history.LastLineTicks < LogEvery.Ticks)
            {
                return true;
            }

            history.Logged = true;
            history.LastLineTicks = now;
            count = history.SinceLine;
            history.SinceLine = 0;
        }

        Log.AgentIdFlaps(logger, LogText.Escape(agentId), LogText.Escape(oldSource), LogText.Escape(newSource), count, (int)Window.TotalMinutes);
        return true;
    }

    /// <summary>One agent id's takeovers. Guarded by its own lock.</summary>
    private sealed class History
    {
        public readonly long[] Times = new long[Threshold];
        public int Next;
        public int Seen;
        public long Flaps;
        public int SinceLine;
        public long LastLineTicks;
        public bool Logged;
    }
}
