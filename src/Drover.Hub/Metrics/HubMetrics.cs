using System.Diagnostics.Metrics;
using Drover.Hub.Fleet;
using Drover.Protocol;

namespace Drover.Hub.Metrics;

/// <summary>The hub's instruments (System.Diagnostics.Metrics), on a <see cref="Meter"/> of its own named
/// <see cref="MeterName"/>: one instance per hub, so that several hubs in one process (tests, the bench) never mix
/// their numbers; <see cref="MetricsExporter"/> listens to this instance only. docs/operations.md (Metrics) lists
/// every instrument. Partial files: Observed (the instruments read at each scrape).
/// <para>Cost on the report path: <see cref="ReportReceived"/> is one counter add and one histogram record, neither
/// with tags, so nothing is allocated; with no listener (no exporter) each is a check of a flag.</para></summary>
internal sealed partial class HubMetrics : IDisposable
{
    public const string MeterName = "Drover.Hub";

    /// <summary>The buckets of the arrival lag, in seconds: from a few milliseconds (on the slot) to a minute.</summary>
    private static readonly double[] LagBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>The buckets of job latencies, in seconds: a millisecond to an hour.</summary>
    private static readonly double[] JobBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

    /// <summary>The buckets of a store flush's duration, in seconds.</summary>
    private static readonly double[] FlushBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>The buckets of a store flush's size, in rows or changes.</summary>
    private static readonly long[] BatchBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000];

    /// <summary>Tag values made once, so that recording a tagged measurement allocates nothing.</summary>
    private static readonly KeyValuePair<string, object?>[] DisconnectReasonTags = MakeTags("reason", Enum.GetValues<DisconnectReason>().Select(r => SnakeCase(r.ToString())));
    private static readonly Dictionary<ErrorCode, KeyValuePair<string, object?>> ErrorCodeTags =
        Enum.GetValues<ErrorCode>().ToDictionary(c => c, c => new KeyValuePair<string, object?>("reason", SnakeCase(c.ToString())));
    private static readonly KeyValuePair<string, object?> OtherReasonTag = new("reason", "other");
    private static readonly KeyValuePair<string, object?> StatusWriterTag = new("writer", "status");
    private static readonly KeyValuePair<string, object?> JobWriterTag = new("writer", "jobs");

    private readonly Meter _meter;
    private readonly Counter<long> _reportsReceived;
    private readonly Histogram<double> _arrivalLag;
    private readonly Counter<long> _handshakeRefusals;
    private readonly Counter<long> _connectionsOpened;
    private readonly Counter<long> _connectionsClosed;
    private readonly Counter<long> _outboundOverflows;
    private readonly Histogram<double> _dispatchLatency;
    private readonly Histogram<double> _runLatency;
    private readonly Histogram<double> _flushDuration;
    private readonly Histogram<long> _flushBatchSize;
    private readonly ReportSchedule _schedule;

    /// <summary>Instruments for a hub whose report slots <paramref name="schedule"/> gives (the arrival lag is measured
    /// against them).</summary>
    public HubMetrics(ReportSchedule schedule)
    {
        _schedule = schedule;
        _meter = new Meter(MeterName, typeof(HubMetrics).Assembly.GetName().Version?.ToString(3));
        _reportsReceived = _meter.CreateCounter<long>("drover.reports.received", "{report}", "Status reports recorded.");
        _arrivalLag = _meter.CreateHistogram("drover.reports.arrival_lag", "s",
            "How long after its slot time a report arrived (reports of a session's steady state; an early one counts 0).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
        _handshakeRefusals = _meter.CreateCounter<long>("drover.handshake.refusals", "{refusal}", "Hellos refused, by the refusal's error code.");
        _connectionsOpened = _meter.CreateCounter<long>("drover.connections.opened", "{connection}", "Agent-port connections taken into a handshake (within the caps).");
        _connectionsClosed = _meter.CreateCounter<long>("drover.connections.closed", "{connection}", "Agent-port connections closed, by the reason decided at the close.");
        _outboundOverflows = _meter.CreateCounter<long>("drover.outbound.overflows", "{connection}", "Sessions closed because their outbound queue was full (the agent does not read).");
        _dispatchLatency = _meter.CreateHistogram("drover.jobs.dispatch.duration", "s", "From a job attempt's queueing to its lease's commit.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = JobBuckets });
        _runLatency = _meter.CreateHistogram("drover.jobs.run.duration", "s", "From a job attempt's lease to its result's commit.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = JobBuckets });
        _flushDuration = _meter.CreateHistogram("drover.store.flush.duration", "s", "One store transaction of a writer: status write-behind or job group commit.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FlushBuckets });
        _flushBatchSize = _meter.CreateHistogram("drover.store.flush.batch_size", "{row}", "What one store transaction of a writer held: agent rows, or job changes.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchBuckets });
    }

    /// <summary>This hub's meter (the exporter listens to this instance only).</summary>
    public Meter Meter => _meter;

    /// <summary>The report path: one report recorded at <paramref name="nowTicks"/> (UTC ticks, hub clock) from an
    /// agent with slot <paramref name="slotOrdinal"/>; <paramref name="previousTicks"/> is when its previous report was
    /// recorded and <paramref name="attachedTicks"/> when its session began. The lag is measured only when the previous
    /// report came in the same session at least half an interval ago: the report sent at once after the welcome and a
    /// backlog sent after a reconnect are not on a slot.</summary>
    public void ReportReceived(long nowTicks, long previousTicks, long attachedTicks, long slotOrdinal)
    {
        _reportsReceived.Add(1);
        if (!_arrivalLag.Enabled)
        {
            return;
        }

        var intervalMs = (long)_schedule.IntervalMs;
        if (previousTicks < attachedTicks || nowTicks - previousTicks < intervalMs * TimeSpan.TicksPerMillisecond / 2)
        {
            return;
        }

        _arrivalLag.Record(ArrivalLagSeconds(nowTicks, intervalMs, ReportSchedule.SlotOffsetMs(slotOrdinal, (uint)intervalMs)));
    }

    /// <summary>Seconds from the nearest slot time (hub Unix milliseconds ≡ <paramref name="slotOffsetMs"/> modulo the
    /// interval) to <paramref name="nowTicks"/>; 0 when the report came before it (an agent's estimate of the hub clock is
    /// off by a few milliseconds either way).</summary>
    public static double ArrivalLagSeconds(long nowTicks, long intervalMs, long slotOffsetMs)
    {
        var nowMicros = (nowTicks - DateTime.UnixEpoch.Ticks) / 10;
        var intervalMicros = intervalMs * 1000;
        var phase = (nowMicros - (slotOffsetMs * 1000)) % intervalMicros;
        if (phase < 0)
        {
            phase += intervalMicros;
        }

        return phase > intervalMicros / 2 ? 0 : phase / 1e6;
    }

    /// <summary>A hello refused with <paramref name="code"/>.</summary>
    public void HandshakeRefused(ErrorCode code) => _handshakeRefusals.Add(1, ErrorCodeTags.GetValueOrDefault(code, OtherReasonTag));

    public void ConnectionOpened() => _connectionsOpened.Add(1);

    public void ConnectionClosed(DisconnectReason reason)
    {
        _connectionsClosed.Add(1, DisconnectReasonTags[(int)reason]);
        if (reason == DisconnectReason.SlowConsumer)
        {
            _outboundOverflows.Add(1);
        }
    }

    /// <summary>A job attempt leased <paramref name="elapsed"/> after it was queued.</summary>
    public void JobLeased(TimeSpan elapsed) => _dispatchLatency.Record(Math.Max(0, elapsed.TotalSeconds));

    /// <summary>A job attempt's result committed <paramref name="elapsed"/> after its lease.</summary>
    public void JobResult(TimeSpan elapsed) => _runLatency.Record(Math.Max(0, elapsed.TotalSeconds));

    /// <summary>The status write-behind wrote <paramref name="rows"/> agent rows in one transaction.</summary>
    public void StatusFlushed(TimeSpan elapsed, int rows)
    {
        _flushDuration.Record(elapsed.TotalSeconds, StatusWriterTag);
        _flushBatchSize.Record(rows, StatusWriterTag);
    }

    /// <summary>The job writer committed <paramref name="changes"/> changes in one transaction.</summary>
    public void JobsFlushed(TimeSpan elapsed, int changes)
    {
        _flushDuration.Record(elapsed.TotalSeconds, JobWriterTag);
        _flushBatchSize.Record(changes, JobWriterTag);
    }

    /// <summary>Adds 0 to every counter series (each refusal code, each close reason), once a listener is there, so that
    /// a scrape shows them from the start: Prometheus's <c>rate()</c> and <c>increase()</c> miss the first increment of a
    /// series that appears only with it.</summary>
    public void Prime()
    {
        _reportsReceived.Add(0);
        _connectionsOpened.Add(0);
        _outboundOverflows.Add(0);
        foreach (var tag in DisconnectReasonTags)
        {
            _connectionsClosed.Add(0, tag);
        }

        foreach (var tag in ErrorCodeTags.Where(c => c.Key != ErrorCode.None).Select(c => c.Value))
        {
            _handshakeRefusals.Add(0, tag);
        }
    }

    public void Dispose() => _meter.Dispose();

    private static KeyValuePair<string, object?>[] MakeTags(string key, IEnumerable<string> values) =>
        [.. values.Select(v => new KeyValuePair<string, object?>(key, v))];

    /// <summary><c>MissedReports</c> → <c>missed_reports</c>; an unnamed enum value stays its number.</summary>
    internal static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('_');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }
}
