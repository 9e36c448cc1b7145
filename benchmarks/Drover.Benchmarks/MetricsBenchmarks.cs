using BenchmarkDotNet.Attributes;
using Drover.Hub.Fleet;
using Drover.Hub.Metrics;

namespace Drover.Benchmarks;

/// <summary>What the metrics add to each status report (<see cref="HubMetrics.ReportReceived"/>: one counter add and one
/// arrival-lag record), with the hub's Prometheus exporter listening as it always is, and with nobody listening.</summary>
[Config(typeof(ShortConfig))]
public class MetricsBenchmarks : IDisposable
{
    private static readonly long Interval = TimeSpan.FromSeconds(60).Ticks;
    private HubMetrics _listened = null!;
    private HubMetrics _unlistened = null!;
    private MetricsExporter _exporter = null!;
    private long _now;
    private long _ordinal;

    [GlobalSetup]
    public void Setup()
    {
        var schedule = new ReportSchedule(TimeSpan.FromSeconds(60), 1000);
        _listened = new HubMetrics(schedule);
        _exporter = new MetricsExporter(_listened, "bench");
        _unlistened = new HubMetrics(schedule);
        _now = DateTime.UtcNow.Ticks;
    }

    /// <summary>A steady-state report: counted, and its lag against its slot recorded.</summary>
    [Benchmark(Baseline = true)]
    public void ReportReceived() => _listened.ReportReceived(_now + (++_ordinal * 7919), _now - Interval, 1, _ordinal);

    /// <summary>The same with no exporter (a hub whose meter nobody listens to): a flag check each.</summary>
    [Benchmark]
    public void ReportReceivedUnlistened() => _unlistened.ReportReceived(_now + (++_ordinal * 7919), _now - Interval, 1, _ordinal);

    [GlobalCleanup]
    public void Dispose()
    {
        _exporter.Dispose();
        _listened.Dispose();
        _unlistened.Dispose();
        GC.SuppressFinalize(this);
    }
}
