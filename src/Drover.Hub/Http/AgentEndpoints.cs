using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/agents</c>: the agents (filtered by state and labels, paged by id) and one agent with its
/// status history. Reads the fleet through <see cref="IFleetView"/>, the history from the store.</summary>
internal static class AgentEndpoints
{
    private const int HistoryLimit = 100;

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api)
    {
        var agents = app.MapGroup("/api/agents");
        agents.MapGet(string.Empty, (string? state, string[]? label, string? limit, string? after) =>
        {
            var hub = api();
            return ListAgents(hub.Fleet, hub.Jobs, state, label, limit, after);
        });
        agents.MapGet("/{id}", (string id, CancellationToken cancellationToken) =>
        {
            var hub = api();
            return GetAgentAsync(hub.Fleet, hub.Store, hub.Jobs, id, cancellationToken);
        });
    }

    private static IResult ListAgents(IFleetView fleet, IJobControl jobs, string? state, string[]? label, string? limit, string? after)
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

        if (!ApiResults.TryParseQueryInt(limit, ApiResults.DefaultPageSize, 1, ApiResults.MaxPageSize, out var pageSize))
        {
            return Results.BadRequest(new ApiError($"limit must be between 1 and {ApiResults.MaxPageSize}"));
        }

        var matches = fleet.Agents
            .Where(e => (wanted is null || e.Presence == wanted) && selectors.All(s => e.Labels.TryGetValue(s.Key, out var v) && v == s.Value))
            .OrderBy(e => e.Id, StringComparer.Ordinal)
            .ToList();
        var start = after is null ? 0 : matches.FindIndex(e => string.CompareOrdinal(e.Id, after) > 0);
        if (start < 0)
        {
            start = matches.Count;
        }

        var items = matches.Skip(start).Take(pageSize).Select(e => ToView(fleet, jobs, e)).ToList();
        var next = start + items.Count < matches.Count ? items[^1].Id : null;
        return Results.Json(new AgentPage(items, matches.Count, next), ApiJsonContext.Default.AgentPage);
    }

    private static async Task<IResult> GetAgentAsync(IFleetView fleet, IFleetStore store, IJobControl jobs, string id, CancellationToken cancellationToken)
    {
        if (!fleet.TryGetAgent(id, out var entry))
        {
            return Results.Json(new ApiError($"no agent '{id}'"), ApiJsonContext.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
        }

        var samples = await store.GetStatusHistoryAsync(id, HistoryLimit, cancellationToken).ConfigureAwait(false);
        var history = samples.Select(s => ToView(StatusConversions.FromRecord(s.Status), s.Status.ReceivedAt.UtcTicks)).ToList();
        return Results.Json(new AgentDetail(ToView(fleet, jobs, entry), history), ApiJsonContext.Default.AgentDetail);
    }

    private static AgentView ToView(IFleetView fleet, IJobControl jobs, AgentEntry entry)
    {
        // How many jobs an agent runs now; only agents with job slots are asked about.
        var jobsInFlight = Volatile.Read(ref entry.JobSlots) > 0 ? jobs.InFlightOn(entry.Id) : 0;
        var flaps = fleet.FlapsOf(entry.Id);
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
                fleet.HubId,
                entry.Epoch,
                ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, fleet.IntervalMs),
                entry.LastDisconnectReason,
                entry.JobSlots,
                jobsInFlight,
                entry.DecodeStatus() is { } status ? ToView(status, entry.StatusAtTicks) : null,
                flaps);
        }
    }

    private static StatusView ToView(Protocol.Status status, long receivedAtTicks)
    {
        var fields = new Dictionary<string, object?>(status.Fields.Count, StringComparer.Ordinal);
        foreach (var (key, value) in status.Fields)
        {
            // JSON has no NaN or infinity: those floats show as their text ("NaN", "Infinity", "-Infinity"), as the
            // store keeps them (FieldJson). Written as numbers they failed the whole answer with a 500.
            fields[key] = value.Kind == Protocol.FieldKind.Float && !double.IsFinite(value.Number) ? value.ToString() : value.ToObject();
        }

        return new StatusView(
            status.Sequence,
            StatusConversions.StateName(status.State),
            status.Progress == ProtocolConstants.NoProgress ? null : status.Progress,
            fields,
            new DateTimeOffset(receivedAtTicks, TimeSpan.Zero));
    }
}
