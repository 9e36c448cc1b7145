using System.Globalization;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Storage;
using Microsoft.AspNetCore.Http;

namespace Drover.Hub.Http;

/// <summary><c>GET /api/agents</c>: the fleet from memory (<see cref="IFleetView"/>), filtered, sorted and paged on the
/// hub, so that a page of 20,000 agents costs one pass over the registry and a sort of the matches, never the whole
/// list on the wire. Filters: <c>state</c>, <c>label=key=value</c> (repeatable, all must match), <c>since</c> (last seen
/// at or after), <c>q</c> (a case-insensitive substring of the id). <c>sort</c>: <c>id</c> (default), <c>lastSeen</c>,
/// <c>firstSeen</c> or <c>state</c>, descending with a leading <c>-</c>; ties are broken by id. The cursor holds the sort
/// and the last item's key, so the next page starts after it even when agents came or went meanwhile.</summary>
internal static class AgentListing
{
    private const string ListName = "agents";
    private static readonly string[] SortKeys = ["id", "lastSeen", "firstSeen", "state"];

    public static IResult List(IFleetView fleet, IJobControl jobs, HttpContext context)
    {
        var query = context.Request.Query;
        Presence? wanted = null;
        if (query["state"].ToString() is { Length: > 0 } state)
        {
            if (!Enum.TryParse<Presence>(state, ignoreCase: true, out var parsed) || int.TryParse(state, out _))
            {
                return ApiResults.BadRequest($"unknown state '{Protocol.LogText.Escape(state, 50)}'; use one of online, late, lost, stale, retired");
            }

            wanted = parsed;
        }

        if (!Paging.TryReadLabels(query, out var selectors, out var error)
            || !Paging.TryReadSince(query, out var since, out error)
            || !Paging.TryRead(query, ListName, out var paging, out error))
        {
            return error!;
        }

        var sortText = query["sort"].ToString();
        var descending = sortText.StartsWith('-');
        var sort = descending ? sortText[1..] : sortText.Length == 0 ? "id" : sortText;
        if (!SortKeys.Contains(sort, StringComparer.Ordinal))
        {
            return ApiResults.BadRequest($"sort '{Protocol.LogText.Escape(sortText, 50)}' is not one of {string.Join(", ", SortKeys)} (a leading - sorts descending)");
        }

        var sortName = (descending ? "-" : string.Empty) + sort;
        (long Key, string Id)? after = null;
        if (paging.After is { } position)
        {
            var parts = position.Split(':', 3);
            if (parts.Length != 3 || parts[0] != sortName || !long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var afterKey))
            {
                return ApiResults.BadRequest($"the cursor belongs to another sort than '{sortName}'; start again without a cursor");
            }

            after = (afterKey, parts[2]);
        }

        var q = query["q"].ToString();
        var sinceTicks = since?.UtcTicks ?? long.MinValue;
        var order = new PageOrder(descending);

        // One pass: count the matches, and keep the first `limit` after the cursor in a heap whose root is the last of
        // them (O(n log limit), most agents rejected by one comparison with the root), never a sort of every match.
        var total = 0;
        var remaining = 0;
        var heap = new PriorityQueue<AgentEntry, (long Key, string Id)>(paging.Limit + 1, Comparer<(long Key, string Id)>.Create((a, b) => order.Compare(b, a)));
        foreach (var entry in fleet.Agents)
        {
            if ((wanted is not null && entry.Presence != wanted)
                || Volatile.Read(ref entry.LastSeenTicks) < sinceTicks
                || (q.Length > 0 && !entry.Id.Contains(q, StringComparison.OrdinalIgnoreCase))
                || !selectors.All(s => entry.Labels.TryGetValue(s.Key, out var v) && v == s.Value))
            {
                continue;
            }

            total++;
            var at = (KeyOf(entry, sort), entry.Id);
            if (after is { } from && order.Compare(at, from) <= 0)
            {
                continue;
            }

            remaining++;
            if (heap.Count < paging.Limit)
            {
                heap.Enqueue(entry, at);
            }
            else if (heap.TryPeek(out _, out var last) && order.Compare(at, last) < 0)
            {
                heap.DequeueEnqueue(entry, at);
            }
        }

        var page = new List<(AgentEntry Entry, (long Key, string Id) Position)>(heap.Count);
        while (heap.TryDequeue(out var kept, out var keptAt))
        {
            page.Add((kept, keptAt));
        }

        page.Reverse();
        var items = page.Select(m => AgentEndpoints.ToView(fleet, jobs, m.Entry)).ToList();
        var next = remaining > paging.Limit
            ? Paging.Encode(ListName, $"{sortName}:{page[^1].Position.Key.ToString(CultureInfo.InvariantCulture)}:{page[^1].Position.Id}")
            : null;
        return Results.Json(new AgentPage(items, total, next), ApiJsonContext.Default.AgentPage);
    }

    /// <summary>The list's order: by key, then id (ordinal); reversed for a descending sort.</summary>
    private readonly record struct PageOrder(bool Descending)
    {
        public int Compare((long Key, string Id) a, (long Key, string Id) b)
        {
            var order = a.Key != b.Key ? a.Key.CompareTo(b.Key) : string.CompareOrdinal(a.Id, b.Id);
            return Descending ? -order : order;
        }
    }

    private static long KeyOf(AgentEntry entry, string sort) => sort switch
    {
        "lastSeen" => Volatile.Read(ref entry.LastSeenTicks),
        "firstSeen" => entry.FirstSeenTicks,
        "state" => (long)entry.Presence,
        _ => 0,
    };
}
