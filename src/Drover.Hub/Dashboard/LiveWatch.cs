using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Dashboard;

/// <summary>One viewer's view of the fleet, to send it only what changed: for every agent the presence and whether it
/// is connected, and for the ids it watches (the rows on its screen) also when it was last heard from. The first pass
/// only remembers; each later pass gives the agents that joined or changed since the previous one.</summary>
internal sealed class LiveWatch(IFleetView fleet, IReadOnlySet<string> watched)
{
    /// <summary>Rows sent in one event at most; the rest are counted (the viewer re-reads its page).</summary>
    public const int Limit = 500;

    /// <summary>Ids one stream may watch at most.</summary>
    public const int MaxWatched = 200;

    private readonly Dictionary<AgentEntry, Seen> _seen = new(ReferenceEqualityComparer.Instance);
    private int _generation;

    /// <summary>The agents that joined or changed since the previous call; null on the first call and when none did.</summary>
    public LiveAgents? Next()
    {
        var first = _generation == 0;
        _generation++;
        List<LiveAgent>? changed = null;
        var more = 0;
        foreach (var entry in fleet.Agents)
        {
            Seen now;
            lock (entry)
            {
                now = new Seen(entry.Presence, entry.Session is not null, watched.Contains(entry.Id) ? entry.LastSeenTicks : 0, _generation);
            }

            var known = _seen.TryGetValue(entry, out var before);
            _seen[entry] = now;
            if (first || (known && now.SameAs(before)))
            {
                continue;
            }

            changed ??= [];
            if (changed.Count < Limit)
            {
                changed.Add(Row(entry, joined: !known));
            }
            else
            {
                more++;
            }
        }

        // Agents the registry dropped (retired) are forgotten once a minute.
        if (_generation % 60 == 0)
        {
            foreach (var gone in _seen.Where(pair => pair.Value.Generation != _generation).Select(pair => pair.Key).ToList())
            {
                _seen.Remove(gone);
            }
        }

        return changed is null ? null : new LiveAgents(changed, more);
    }

    private static LiveAgent Row(AgentEntry entry, bool joined)
    {
        lock (entry)
        {
            var status = entry.DecodeStatus();
            return new LiveAgent(
                entry.Id,
                entry.Presence.ToString().ToLowerInvariant(),
                entry.Session is not null,
                new DateTimeOffset(entry.LastSeenTicks, TimeSpan.Zero),
                status?.Sequence ?? 0,
                status is null ? null : StatusConversions.StateName(status.State),
                status is null || status.Progress == ProtocolConstants.NoProgress ? null : status.Progress,
                entry.LastDisconnectReason,
                joined);
        }
    }

    private readonly record struct Seen(Presence Presence, bool Connected, long LastSeenTicks, int Generation)
    {
        public bool SameAs(Seen other) => Presence == other.Presence && Connected == other.Connected && LastSeenTicks == other.LastSeenTicks;
    }
}
