using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Drover.Agent.Internal.Session;

/// <summary>Chooses the hub to connect to by rendezvous (highest random weight) hashing.
/// <para>Each hub's score is the first 8 bytes (big-endian) of SHA-256(agentId + "\n" + hub); hubs are
/// tried in descending score order. The order depends only on the agent id and the hub strings, so a
/// fleet spreads evenly over the hubs, every process computes the same order, and removing a hub moves
/// only the agents that preferred it.</para>
/// <para>Failover: a failed connection attempt, or a session that ended soon after it started, moves to the
/// next hub in order (wrapping around, so a full cycle returns to the preferred hub). A session that lasted
/// at least <see cref="StableSession"/> on a fallback hub sends the next attempt back to the preferred hub,
/// which has probably recovered by then; if it has not, that attempt fails and the order moves on.</para>
/// <para>Not thread-safe: used from the agent's run loop only.</para></summary>
internal sealed class HubSelector
{
    /// <summary>Default for how long a session must last to count as stable.</summary>
    public static readonly TimeSpan DefaultStableSession = TimeSpan.FromSeconds(60);

    private readonly string _agentId;
    private string[] _order;
    private int _cursor;

    public HubSelector(string agentId, IReadOnlyList<string> hubs, TimeSpan? stableSession = null)
    {
        _agentId = agentId;
        StableSession = stableSession ?? DefaultStableSession;
        _order = Rank(agentId, hubs);
    }

    /// <summary>How long a session must last before its end sends the agent back to its preferred hub.</summary>
    public TimeSpan StableSession { get; }

    /// <summary>The hubs in the order this agent tries them: preferred first.</summary>
    public IReadOnlyList<string> Order => _order;

    /// <summary>The hub the next attempt uses.</summary>
    public string Current => _order[_cursor];

    /// <summary>The position of <see cref="Current"/> in <see cref="Order"/> (0: the preferred hub).</summary>
    public int Position => _cursor;

    /// <summary>The connection attempt to <see cref="Current"/> failed (no welcome): try the next hub.</summary>
    public void OnConnectFailed() => Advance();

    /// <summary>A welcomed session on <see cref="Current"/> ended after <paramref name="length"/>.</summary>
    public void OnSessionEnded(TimeSpan length)
    {
        if (length >= StableSession && _cursor != 0)
        {
            _cursor = 0;
        }
        else
        {
            Advance();
        }
    }

    /// <summary>Replaces the hub list (a redirect); the next attempt uses the new preferred hub.</summary>
    public void Replace(IReadOnlyList<string> hubs)
    {
        _order = Rank(_agentId, hubs);
        _cursor = 0;
    }

    /// <summary>The rendezvous score of <paramref name="hub"/> for <paramref name="agentId"/>.</summary>
    public static ulong Score(string agentId, string hub)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(agentId + "\n" + hub), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }

    /// <summary>Hubs ordered by descending score (ties, which need a hash collision, by ordinal name);
    /// duplicates removed.</summary>
    public static string[] Rank(string agentId, IReadOnlyList<string> hubs)
    {
        if (hubs.Count == 0)
        {
            throw new ArgumentException("at least one hub is required", nameof(hubs));
        }

        return hubs
            .Distinct(StringComparer.Ordinal)
            .Select(hub => (hub, score: Score(agentId, hub)))
            .OrderByDescending(x => x.score)
            .ThenBy(x => x.hub, StringComparer.Ordinal)
            .Select(x => x.hub)
            .ToArray();
    }

    private void Advance() => _cursor = (_cursor + 1) % _order.Length;
}
