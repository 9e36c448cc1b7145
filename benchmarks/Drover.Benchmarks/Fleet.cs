using Drover.Hub.Fleet;
using Drover.Storage;

namespace Drover.Benchmarks;

/// <summary>Builds a registry of connected-looking agents without sockets: the agents are loaded as if
/// from the store, each with session epoch <see cref="Epoch"/>, so <see cref="AgentRegistry.RecordStatus"/>
/// accepts reports for them exactly as it does from a live session.</summary>
internal static class Fleet
{
    public const ulong Epoch = 1;

    public static readonly DateTimeOffset Start = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public static AgentRegistry Create(int count, TimeProvider time, out AgentEntry[] entries)
    {
        var records = new AgentRecord[count];
        for (var i = 0; i < count; i++)
        {
            records[i] = new AgentRecord
            {
                Id = $"agent-{i:D5}",
                Labels = new Dictionary<string, string> { ["zone"] = i % 2 == 0 ? "eu-west-1a" : "eu-west-1b", ["role"] = "builder" },
                Address = $"10.0.{i / 256}.{i % 256}:51234",
                Version = "0.1.0",
                HubNode = "bench-hub",
                FirstSeen = Start,
                LastSeen = Start,
                Presence = Presence.Online,
                SessionEpoch = Epoch,
                SlotOrdinal = i,
            };
        }

        var registry = new AgentRegistry(time);
        registry.Load(records, Epoch, count - 1);
        entries = new AgentEntry[count];
        for (var i = 0; i < count; i++)
        {
            registry.TryGet(records[i].Id, out entries[i]);
        }

        // Reports arrive in slot order, which scatters over memory: visit the entries shuffled.
        new Random(42).Shuffle(entries);
        return registry;
    }
}

/// <summary>A clock that stands still, so that the write-behind's once-a-minute history prune runs in
/// the setup's first flush and never inside a measured one.</summary>
internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
