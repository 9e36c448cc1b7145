using BenchmarkDotNet.Attributes;
using Drover.Hub.Fleet;
using Drover.Protocol;

namespace Drover.Benchmarks;

/// <summary>The registry's update path for a fleet of 10,000 agents: what the hub does with each
/// report before it acks it (validate the payload, copy its bytes into the entry), and the
/// write-behind's drain of the dirty queue.</summary>
[Config(typeof(ShortConfig))]
public class RegistryBenchmarks
{
    public const int FleetSize = 10_000;

    private AgentRegistry _registry = null!;
    private AgentEntry[] _entries = null!;
    private AgentEntry _one = null!;
    private byte[] _status = null!;

    [GlobalSetup]
    public void Setup()
    {
        _registry = Fleet.Create(FleetSize, TimeProvider.System, out _entries);
        _one = _entries[FleetSize / 2];
        _status = Samples.StatusPayload();
    }

    /// <summary>One report for one agent whose entry is already in the dirty queue (coalesced: a second
    /// report within a flush window): clock read, lock, a copy of the payload into the entry's array, no enqueue.</summary>
    [Benchmark]
    public bool RecordStatusCoalesced() => _registry.RecordStatus(_one, Fleet.Epoch, _status);

    /// <summary>What the hub does per report before the ack: validate the payload without decoding it, then record it.</summary>
    [Benchmark]
    public bool ValidateAndRecord()
    {
        Status.Validate(_status, ProtocolConstants.DefaultMaxStatusFields);
        return _registry.RecordStatus(_one, Fleet.Epoch, _status);
    }

    /// <summary>One flush window's worth of work for the whole fleet: a report from each of the 10,000
    /// agents (each marks its entry dirty and enqueues it once), then <see cref="AgentRegistry.DrainDirty"/>
    /// takes all 10,000 for the flush.</summary>
    [Benchmark]
    public int Record10000ThenDrain()
    {
        foreach (var entry in _entries)
        {
            _registry.RecordStatus(entry, Fleet.Epoch, _status);
        }

        return _registry.DrainDirty().Count;
    }
}
