using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/stats</c>: the fleet by state, the report rate and its histogram, admission, the agent port's
/// connections, the hub process, the jobs by state, and what the API's gate refused.</summary>
internal static class StatsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api) =>
        app.MapGet("/api/stats", (string? seconds, CancellationToken cancellationToken) =>
        {
            var hub = api();
            var access = hub.AgentKeys is { } keys ? hub.Gate.View with { AgentKeysBound = keys.Bound, AgentKeyMismatches = keys.Refused } : hub.Gate.View;
            return GetStatsAsync(hub.Fleet, hub.JobStore, hub.Jobs, access, seconds, cancellationToken);
        })
            .Describe("GetStats", "Fleet, connection, process and job counters", "stats")
            .Query("seconds", $"Seconds of the arrivals histogram, 1 to {FleetStats.WindowSeconds - 1} (default 60).", "integer")
            .Produces<StatsView>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);

    private static async Task<IResult> GetStatsAsync(IFleetView fleet, IJobStore jobStore, IJobControl jobs, AccessView access, string? seconds, CancellationToken cancellationToken)
    {
        if (!ApiResults.TryParseQueryInt(seconds, 60, 1, FleetStats.WindowSeconds - 1, out var histogramSeconds))
        {
            return ApiResults.BadRequest(($"seconds must be between 1 and {FleetStats.WindowSeconds - 1}"));
        }

        var byState = fleet.CountByPresence().ToDictionary(p => p.Key.ToString().ToLowerInvariant(), p => p.Value);

        var interval = fleet.IntervalMs;
        var window = (int)Math.Clamp(interval / 1000, 1, FleetStats.WindowSeconds - 1);
        var lastInterval = fleet.ReportsLastSeconds(window);
        var histogram = fleet.ReportsLastSeconds(histogramSeconds);
        var view = new StatsView(
            fleet.HubId,
            fleet.StartedAt,
            fleet.InRestartGrace,
            fleet.AgentCount,
            fleet.ConnectedCount,
            byState,
            interval,
            lastInterval.Sum() / (double)window,
            fleet.TotalReports,
            histogram,
            fleet.AdmissionWaiting,
            fleet.Capacity,
            ReadConnectionsView(fleet),
            ReadProcessView(),
            await ReadJobStatsAsync(jobStore, jobs, cancellationToken).ConfigureAwait(false),
            fleet.IdFlaps,
            access);
        return Results.Json(view, ApiJsonContext.Default.StatsView);
    }

    private static ConnectionsView ReadConnectionsView(IFleetView fleet)
    {
        var limits = fleet.Connections;
        var sources = fleet.Sources;
        return new(
            limits.Open,
            limits.MaxConnections,
            limits.Pending,
            limits.MaxPendingHandshakes,
            limits.PendingPeak,
            limits.RefusedOverConnections,
            limits.RefusedOverPending,
            limits.HandshakeTimeouts,
            limits.AcceptErrors,
            new ConnectionRateLimitsView(
                sources.Rate,
                sources.Burst,
                sources.Tracked,
                sources.Untracked,
                sources.RefusedOverRate,
                sources.ResetOverRate,
                sources.AuthFailures,
                sources.Penalties,
                sources.Penalized,
                sources.RefusedPenalized,
                fleet.Flapping.Bans,
                fleet.Flapping.Refused,
                fleet.Flapping.Tracked));
    }

    private static ProcessView ReadProcessView()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var gc = GC.GetGCMemoryInfo();
        return new ProcessView(
            process.WorkingSet64,
            GC.GetTotalMemory(forceFullCollection: false),
            gc.TotalCommittedBytes,
            gc.FragmentedBytes,
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            process.Threads.Count);
    }

    /// <summary>The <c>jobs</c> section of /api/stats.</summary>
    private static async Task<JobStatsView> ReadJobStatsAsync(IJobStore jobStore, IJobControl jobs, CancellationToken cancellationToken)
    {
        var counts = await jobStore.CountByStateAsync(cancellationToken).ConfigureAwait(false);
        return new JobStatsView(
            counts.GetValueOrDefault(JobStates.Queued),
            counts.GetValueOrDefault(JobStates.Running),
            counts.GetValueOrDefault(JobStates.Done),
            counts.GetValueOrDefault(JobStates.Dead),
            counts.GetValueOrDefault(JobStates.Cancelled),
            jobs.SubmittedTotal,
            jobs.FinishedTotal,
            jobs.FinishedPerSecond,
            jobs.ForeignMessages);
    }
}
