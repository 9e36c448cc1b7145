using System.Globalization;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/agents</c>: the agents (<see cref="AgentListing"/>), one agent with its latest status, its status
/// history and its connection events (paged, newest first). Reads the fleet through <see cref="IFleetView"/>, history and
/// events from the store.</summary>
internal static class AgentEndpoints
{
    private const int HistoryLimit = 100;

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api)
    {
        var agents = app.MapGroup("/api/agents").WithTags("agents");
        agents.MapGet(string.Empty, (HttpContext context) => AgentListing.List(api().Fleet, api().Jobs, context))
            .Describe("ListAgents", "A page of agents, filtered, searched and sorted on the hub", "agents")
            .Query("state", "Only agents in this presence: online, late, lost, stale or retired.")
            .Query("label", "key=value: only agents with this label; repeat for several (all must match).", repeatable: true)
            .Query("since", "Only agents last seen at or after this time (ISO 8601).", "date-time")
            .Query("q", "Only agents whose id contains this text (case-insensitive).")
            .Query("sort", "id (default), lastSeen, firstSeen or state; a leading - sorts descending. Ties by id.")
            .Paged()
            .Produces<AgentPage>()
            .Problems(StatusCodes.Status400BadRequest);
        agents.MapGet("/{id}", (string id, CancellationToken cancellationToken) =>
        {
            var hub = api();
            return GetAgentAsync(hub.Fleet, hub.Store, hub.Jobs, id, cancellationToken);
        })
            .Describe("GetAgent", "One agent with its latest status samples (at most 100, newest first)", "agents")
            .Produces<AgentDetail>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        agents.MapGet("/{id}/history", (HttpContext context, string id) => ReadHistoryAsync(api(), context, id))
            .Describe("GetAgentHistory", "A page of one agent's status history, newest first", "agents")
            .Query("since", "Only samples received at or after this time (ISO 8601).", "date-time")
            .Paged()
            .Produces<StatusHistoryPage>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        agents.MapGet("/{id}/events", (HttpContext context, string id) => ReadEventsAsync(api(), context, id))
            .Describe("GetAgentEvents", "A page of one agent's connection events, newest first", "agents")
            .Query("since", "Only events at or after this time (ISO 8601).", "date-time")
            .Paged()
            .Produces<AgentEventPage>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
    }

    private static async Task<IResult> GetAgentAsync(IFleetView fleet, IFleetStore store, IJobControl jobs, string id, CancellationToken cancellationToken)
    {
        if (!fleet.TryGetAgent(id, out var entry))
        {
            return ApiResults.NotFound($"no agent '{id}'");
        }

        var samples = await store.GetStatusHistoryAsync(id, HistoryLimit, cancellationToken).ConfigureAwait(false);
        var history = samples.Select(s => ToView(StatusConversions.FromRecord(s.Status), s.Status.ReceivedAt.UtcTicks)).ToList();
        return Results.Json(new AgentDetail(ToView(fleet, jobs, entry), history), ApiJsonContext.Default.AgentDetail);
    }

    /// <summary>Null for an agent the fleet holds, or one the store still has (retired: its history and events outlive it in
    /// memory); asked only when a page is empty, so that an id with events but no agent row (a rejected enrollment) shows them.</summary>
    private static async Task<IResult?> CheckKnownAsync(HubApiParts api, string id, CancellationToken cancellationToken) =>
        api.Fleet.TryGetAgent(id, out _) || await api.Store.GetAgentAsync(id, cancellationToken).ConfigureAwait(false) is not null
            ? null
            : ApiResults.NotFound($"no agent '{id}'");

    private static Task<IResult> ReadHistoryAsync(HubApiParts api, HttpContext context, string id) =>
        ReadRowsAsync(
            api,
            context,
            id,
            "history",
            api.Store.ReadStatusHistoryAsync,
            r => r.Id,
            (rows, next) => Results.Json(
                new StatusHistoryPage([.. rows.Select(r => ToView(StatusConversions.FromRecord(r.Status), r.Status.ReceivedAt.UtcTicks))], next),
                ApiJsonContext.Default.StatusHistoryPage));

    private static Task<IResult> ReadEventsAsync(HubApiParts api, HttpContext context, string id) =>
        ReadRowsAsync(
            api,
            context,
            id,
            "events",
            api.Store.ReadAgentEventsAsync,
            e => e.Id,
            (rows, next) => Results.Json(
                new AgentEventPage([.. rows.Select(e => new AgentEventView(e.Id, e.At, e.Kind, e.Reason, e.Detail))], next),
                ApiJsonContext.Default.AgentEventPage));

    /// <summary>A page of one agent's stored rows (history samples or events), newest first: <c>since</c>, <c>limit</c> and
    /// the <paramref name="list"/>'s cursor (the last row id of the previous page) read from the query; 404 for an id that
    /// has no rows and that the hub does not know.</summary>
    private static async Task<IResult> ReadRowsAsync<TRow>(
        HubApiParts api,
        HttpContext context,
        string id,
        string list,
        Func<string, DateTimeOffset?, long?, int, CancellationToken, Task<IReadOnlyList<TRow>>> read,
        Func<TRow, long> rowId,
        Func<IEnumerable<TRow>, string?, IResult> answer)
    {
        if (!Paging.TryReadSince(context.Request.Query, out var since, out var error) || !Paging.TryRead(context.Request.Query, list, out var paging, out error))
        {
            return error!;
        }

        if (!TryReadId(paging, out var before, out error))
        {
            return error!;
        }

        var rows = await read(id, since, before, paging.Limit + 1, context.RequestAborted).ConfigureAwait(false);
        if (rows.Count == 0 && await CheckKnownAsync(api, id, context.RequestAborted).ConfigureAwait(false) is { } missing)
        {
            return missing;
        }

        var next = rows.Count > paging.Limit ? Paging.Encode(list, rowId(rows[paging.Limit - 1]).ToString(CultureInfo.InvariantCulture)) : null;
        return answer(rows.Take(paging.Limit), next);
    }

    /// <summary>The row id a history or events cursor holds.</summary>
    private static bool TryReadId(Paging paging, out long? before, out IResult? error)
    {
        before = null;
        error = null;
        if (paging.After is null)
        {
            return true;
        }

        if (!long.TryParse(paging.After, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            error = ApiResults.BadRequest("the cursor is damaged; pass the 'next' of the previous page unchanged");
            return false;
        }

        before = id;
        return true;
    }

    internal static AgentView ToView(IFleetView fleet, IJobControl jobs, AgentEntry entry)
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
