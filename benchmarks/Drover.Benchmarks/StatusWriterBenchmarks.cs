using BenchmarkDotNet.Attributes;
using Drover.Hub.Fleet;
using Drover.Hub.Status;
using Drover.Hub;
using Drover.Protocol;
using Drover.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Drover.Benchmarks;

/// <summary>The write-behind: one <see cref="StatusWriter.FlushAsync"/> of <see cref="Agents"/> dirty agents,
/// each with a new report, into a real SQLite file (WAL, synchronous=NORMAL) in a temporary directory.
/// That is one transaction of <see cref="Agents"/> agent-row upserts plus as many history inserts, with
/// the snapshotting and status-to-JSON conversion before it. The rows exist already (steady state:
/// updates, not first registrations); the history table grows by one sample per agent per flush.</summary>
[Config(typeof(SingleCallConfig))]
public class StatusWriterBenchmarks
{
    private string _directory = null!;
    private SqliteFleetStore _store = null!;
    private AgentRegistry _registry = null!;
    private AgentEntry[] _entries = null!;
    private StatusWriter _writer = null!;
    private byte[] _status = null!;

    [Params(1_000, 10_000)]
    public int Agents { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "drover-bench-" + Guid.NewGuid().ToString("N"));
        _store = new SqliteFleetStore(new SqliteStoreOptions { Path = Path.Combine(_directory, "drover.db") });
        _store.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
        _registry = Fleet.Create(Agents, TimeProvider.System, out _entries);
        var options = new HubOptions { HubId = "bench-hub", TimeProvider = new FixedTimeProvider(Fleet.Start) };
        _writer = new StatusWriter(_registry, _store, options, NullLogger.Instance, new Drover.Hub.Metrics.HubMetrics(new Drover.Hub.Fleet.ReportSchedule(options.ReportInterval, options.MaxReportsPerSecond)));
        _status = Samples.StatusPayload();

        // First flush: inserts every row and runs the (once a minute) history prune, outside the measurement.
        RecordAll();
        if (!_writer.FlushAsync(CancellationToken.None).GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("the setup flush failed");
        }
    }

    /// <summary>Every agent reports once since the last flush (not measured).</summary>
    [IterationSetup]
    public void RecordAll()
    {
        foreach (var entry in _entries)
        {
            _registry.RecordStatus(entry, Fleet.Epoch, _status);
        }
    }

    [Benchmark]
    public async Task<bool> Flush() => await _writer.FlushAsync(CancellationToken.None);

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }
}
