using System.Diagnostics.Metrics;
using Drover.Hub.Fleet;
using Drover.Hub.Jobs;
using Drover.Storage;

namespace Drover.Hub.Metrics;

internal sealed partial class HubMetrics
{
    private static readonly KeyValuePair<string, object?>[] PresenceTags = MakeTags("state", Enum.GetValues<Presence>().Select(p => SnakeCase(p.ToString())));
    private static readonly KeyValuePair<string, object?> QueuedTag = new("state", "queued");
    private static readonly KeyValuePair<string, object?> RunningTag = new("state", "running");
    private static readonly KeyValuePair<string, object?> OverConnectionsTag = new("reason", "max_connections");
    private static readonly KeyValuePair<string, object?> OverPendingTag = new("reason", "max_pending_handshakes");
    private static readonly KeyValuePair<string, object?> OverRateTag = new("reason", "source_rate");
    private static readonly KeyValuePair<string, object?> PenalizedTag = new("reason", "source_penalized");

    /// <summary>The instruments read when a scrape comes (nothing on any hot path): agents by state, the schedule, the
    /// agent port's connections and caps, the open files, the jobs. Called once, when the hub's roles exist.</summary>
    public void Observe(IFleetView fleet, JobDispatcher jobs)
    {
        _meter.CreateObservableGauge("drover.agents", () => ObserveAgents(fleet), "{agent}", "Agents in the registry, by presence state.");
        _meter.CreateObservableGauge("drover.report.interval", () => fleet.IntervalMs / 1000.0, "s", "The report interval agents are given now (stretched as the fleet grows).");
        _meter.CreateObservableGauge("drover.reports.expected", () => fleet.IntervalMs == 0 ? 0 : fleet.ConnectedCount * 1000.0 / fleet.IntervalMs,
            "{report}/s", "The reports per second the slots predict: connected agents / interval.");

        var limits = fleet.Connections;
        var sources = fleet.Sources;
        _meter.CreateObservableUpDownCounter("drover.connections.open", () => limits.Open, "{connection}", "Agent-port connections held (with a session or in the handshake).");
        _meter.CreateObservableUpDownCounter("drover.connections.pending", () => limits.Pending, "{connection}", "Agent-port connections without a finished handshake.");
        _meter.CreateObservableGauge("drover.connections.limit", () => limits.MaxConnections, "{connection}", "The cap on connections held (--max-connections, or the open-files limit less a reserve).");
        _meter.CreateObservableCounter("drover.connections.reset", () => new Measurement<long>[]
        {
            new(limits.RefusedOverConnections, OverConnectionsTag),
            new(limits.RefusedOverPending, OverPendingTag),
            new(sources.ResetOverRate, OverRateTag),
            new(sources.RefusedPenalized, PenalizedTag),
        }, "{connection}", "Connections reset at accept, before any handshake, by the cap or source limit that refused them.");
        _meter.CreateObservableUpDownCounter("drover.process.open_files", CountOpenFiles, "{file}", "File descriptors the hub process holds (/proc/self/fd).");
        _meter.CreateObservableGauge("drover.process.open_files.limit", () => (long)Math.Min(Os.SystemLimits.GetOpenFilesLimit().Soft, long.MaxValue), "{file}",
            "The process's open-files limit (soft).");

        _meter.CreateObservableGauge("drover.jobs", () =>
        {
            var (queued, running) = jobs.CountByPhase();
            return new Measurement<int>[] { new(queued, QueuedTag), new(running, RunningTag) };
        }, "{job}", "Jobs in the hub's memory: queued (waiting for an agent) and running (leased).");
        _meter.CreateObservableCounter("drover.jobs.submitted", () => jobs.SubmittedTotal, "{job}", "Jobs accepted since the hub started.");
        _meter.CreateObservableCounter("drover.jobs.finished", () => jobs.FinishedTotal, "{job}", "Jobs that reached done or dead since the hub started.");
    }

    private static Measurement<int>[] ObserveAgents(IFleetView fleet)
    {
        var counts = fleet.CountByPresence();
        var measurements = new Measurement<int>[PresenceTags.Length];
        var states = Enum.GetValues<Presence>();
        for (var i = 0; i < states.Length; i++)
        {
            measurements[i] = new Measurement<int>(counts.GetValueOrDefault(states[i]), PresenceTags[i]);
        }

        return measurements;
    }

    /// <summary>The entries of /proc/self/fd (Linux); none elsewhere.</summary>
    private static IEnumerable<Measurement<long>> CountOpenFiles() =>
        Os.SystemLimits.CountOpenFiles() is { } count ? [new Measurement<long>(count)] : [];
}
