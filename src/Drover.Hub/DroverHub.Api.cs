using System.Net;
using Drover.Api;
using Drover.Hub.Internal;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Drover.Hub;

public sealed partial class DroverHub
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 1000;
    private const int HistoryLimit = 100;

    /// <summary>The HTTP API's endpoints (empty before start or when the API is off), for the test that
    /// holds docs/http-api.md to the routes.</summary>
    internal IReadOnlyList<Endpoint> ApiEndpoints =>
        _api is IEndpointRouteBuilder routes ? [.. routes.DataSources.SelectMany(source => source.Endpoints)] : [];

    private WebApplication BuildApi(IPEndPoint endPoint)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(LoggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endPoint);

            // Room for a job's args (up to MaxArgsBytes of UTF-8, percent-encoded: 3 characters a byte) in the query.
            kestrel.Limits.MaxRequestLineSize = Math.Max(kestrel.Limits.MaxRequestLineSize, (3 * MaxArgsBytes) + 8192);
        });
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        var app = builder.Build();

        app.MapGet("/api/agents", ListAgents);
        app.MapGet("/api/agents/{id}", GetAgentAsync);
        app.MapGet("/api/stats", GetStatsAsync);
        MapJobApi(app);
        app.MapMethods("/healthz", ["GET", "HEAD"], () => Results.Text("ok"));
        return app;
    }

    private IResult ListAgents(string? state, string[]? label, string? limit, string? after)
    {
        Presence? wanted = null;
        if (!string.IsNullOrEmpty(state))
        {
            if (!Enum.TryParse<Presence>(state, ignoreCase: true, out var parsed) || int.TryParse(state, out _))
            {
                return Results.BadRequest(new ApiError($"unknown state '{state}'; use one of online, late, lost, stale, retired"));
            }

            wanted = parsed;
        }

        var selectors = new List<KeyValuePair<string, string>>();
        foreach (var selector in label ?? [])
        {
            var equals = selector.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                return Results.BadRequest(new ApiError($"label selector '{selector}' must look like key=value"));
            }

            selectors.Add(new(selector[..equals], selector[(equals + 1)..]));
        }

        if (!TryParseQueryInt(limit, DefaultPageSize, 1, MaxPageSize, out var pageSize))
        {
            return Results.BadRequest(new ApiError($"limit must be between 1 and {MaxPageSize}"));
        }

        var matches = Registry.Entries
            .Where(e => (wanted is null || e.Presence == wanted) && selectors.All(s => e.Labels.TryGetValue(s.Key, out var v) && v == s.Value))
            .OrderBy(e => e.Id, StringComparer.Ordinal)
            .ToList();
        var start = after is null ? 0 : matches.FindIndex(e => string.CompareOrdinal(e.Id, after) > 0);
        if (start < 0)
        {
            start = matches.Count;
        }

        var items = matches.Skip(start).Take(pageSize).Select(ToView).ToList();
        var next = start + items.Count < matches.Count ? items[^1].Id : null;
        return Results.Json(new AgentPage(items, matches.Count, next), ApiJsonContext.Default.AgentPage);
    }

    private async Task<IResult> GetAgentAsync(string id, CancellationToken cancellationToken)
    {
        if (!Registry.TryGet(id, out var entry))
        {
            return Results.Json(new ApiError($"no agent '{id}'"), ApiJsonContext.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
        }

        var samples = await _store.GetStatusHistoryAsync(id, HistoryLimit, cancellationToken).ConfigureAwait(false);
        var history = samples.Select(s => ToView(StatusConversions.FromRecord(s.Status), s.Status.ReceivedAt.UtcTicks)).ToList();
        return Results.Json(new AgentDetail(ToView(entry), history), ApiJsonContext.Default.AgentDetail);
    }

    private async Task<IResult> GetStatsAsync(string? seconds, CancellationToken cancellationToken)
    {
        if (!TryParseQueryInt(seconds, 60, 1, FleetStats.WindowSeconds - 1, out var histogramSeconds))
        {
            return Results.BadRequest(new ApiError($"seconds must be between 1 and {FleetStats.WindowSeconds - 1}"));
        }

        var byState = CountAgentsByPresence().ToDictionary(p => p.Key.ToString().ToLowerInvariant(), p => p.Value);

        var interval = Schedule.IntervalMs;
        var window = (int)Math.Clamp(interval / 1000, 1, FleetStats.WindowSeconds - 1);
        var lastInterval = Stats.LastSeconds(window);
        var histogram = Stats.LastSeconds(histogramSeconds);
        var view = new StatsView(
            Options.HubId,
            StartedAt,
            InRestartGrace,
            Registry.Count,
            Registry.Connected,
            byState,
            interval,
            lastInterval.Sum() / (double)window,
            Stats.TotalReports,
            histogram,
            Admission.Waiting,
            Options.MaxAgents > 0 ? Options.MaxAgents : Capacity,
            ReadProcessView(),
            await ReadJobStatsAsync(cancellationToken).ConfigureAwait(false));
        return Results.Json(view, ApiJsonContext.Default.StatsView);
    }

    /// <summary>An integer query value in [<paramref name="min"/>, <paramref name="max"/>], or
    /// <paramref name="fallback"/> when it is absent. Parsed here rather than bound by the framework, whose
    /// binding failure is a 400 without a body: every 400 of this API says what is wrong.</summary>
    private static bool TryParseQueryInt(string? text, int fallback, int min, int max, out int value)
    {
        value = fallback;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value)
            && value >= min && value <= max;
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

    private AgentView ToView(AgentEntry entry)
    {
        var jobsInFlight = JobsInFlightOn(entry);
        lock (entry)
        {
            return new AgentView(
                entry.Id,
                entry.Presence.ToString().ToLowerInvariant(),
                entry.Session is not null,
                new DateTimeOffset(entry.LastSeenTicks, TimeSpan.Zero),
                new DateTimeOffset(entry.FirstSeenTicks, TimeSpan.Zero),
                entry.Labels,
                entry.Address,
                entry.Version,
                Options.HubId,
                entry.Epoch,
                ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, Schedule.IntervalMs),
                entry.LastDisconnectReason,
                entry.JobSlots,
                jobsInFlight,
                entry.DecodeStatus() is { } status ? ToView(status, entry.StatusAtTicks) : null);
        }
    }

    private static StatusView ToView(Status status, long receivedAtTicks)
    {
        var fields = new Dictionary<string, object?>(status.Fields.Count, StringComparer.Ordinal);
        foreach (var (key, value) in status.Fields)
        {
            fields[key] = value.ToObject();
        }

        return new StatusView(
            status.Sequence,
            StatusConversions.StateName(status.State),
            status.Progress == ProtocolConstants.NoProgress ? null : status.Progress,
            fields,
            new DateTimeOffset(receivedAtTicks, TimeSpan.Zero));
    }
}
