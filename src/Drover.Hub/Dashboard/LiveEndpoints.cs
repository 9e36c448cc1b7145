using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Drover.Api;
using Drover.Hub.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Drover.Hub.Dashboard;

/// <summary><c>GET /api/live</c>: server-sent events for the dashboard, once a second: a <c>summary</c> event
/// (<see cref="LiveSummary"/>) and, when any agent joined or changed, an <c>agents</c> event (<see cref="LiveAgents"/>)
/// with only those agents. <c>?watch=id,id,…</c> (at most <see cref="LiveWatch.MaxWatched"/>) names the agents whose
/// every report the viewer wants (the rows it shows); for the rest only joins and presence changes are sent. The
/// stream ends when the client goes or the hub stops; at most <see cref="MaxStreams"/> are open at once.</summary>
internal static class LiveEndpoints
{
    public const int MaxStreams = 32;

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api) =>
        app.MapGet("/api/live", (HttpContext context, string? watch) => StreamAsync(context, api().Live, watch))
            .Describe("GetLive", "Live updates for the dashboard, as server-sent events: a summary each second and the agents that changed", "dashboard")
            .Query("watch", $"Comma-separated agent ids (at most {LiveWatch.MaxWatched}) whose every report the stream carries.")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status429TooManyRequests);

    private static async Task StreamAsync(HttpContext context, LiveFeed feed, string? watch)
    {
        var ids = (watch ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if (ids.Count > LiveWatch.MaxWatched)
        {
            await ApiResults.BadRequest($"watch names at most {LiveWatch.MaxWatched} agent ids").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (!feed.TryOpenStream(MaxStreams))
        {
            context.Response.Headers.RetryAfter = "10";
            await ApiResults.Problem(ProblemCodes.QuotaExceeded, StatusCodes.Status429TooManyRequests, $"at most {MaxStreams} live streams are open at once").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        try
        {
            var stopping = context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            await RunAsync(context.Response, feed, new LiveWatch(feed.Fleet, ids), ending.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            feed.CloseStream();
        }
    }

    private static async Task RunAsync(HttpResponse response, LiveFeed feed, LiveWatch view, CancellationToken cancellationToken)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.WriteAsync("retry: 2000\n\n", cancellationToken).ConfigureAwait(false);
        view.Next();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), feed.Time);
        do
        {
            await WriteEventAsync(response, "summary", await feed.SummaryAsync().WaitAsync(cancellationToken).ConfigureAwait(false), LiveJsonContext.Default.LiveSummary, cancellationToken).ConfigureAwait(false);
            if (view.Next() is { } changed)
            {
                await WriteEventAsync(response, "agents", changed, LiveJsonContext.Default.LiveAgents, cancellationToken).ConfigureAwait(false);
            }

            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    private static async Task WriteEventAsync<T>(HttpResponse response, string name, T value, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        // JSON written by System.Text.Json has no raw newline, so one data line carries it.
        var json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        await response.Body.WriteAsync(Encoding.ASCII.GetBytes($"event: {name}\ndata: "), cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(json, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync("\n\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
    }
}
