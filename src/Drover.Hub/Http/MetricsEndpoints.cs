using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/metrics</c>: the hub's instruments in the Prometheus text exposition format (docs/operations.md, Metrics),
/// written by the OpenTelemetry Prometheus exporter of this hub (<see cref="Metrics.MetricsExporter"/>). Behind the API's
/// gate like every route: a token with the read scope (Prometheus: <c>authorization: credentials_file</c>).</summary>
internal static class MetricsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api) =>
        app.MapGet("/metrics", async Task<IResult> (HttpContext context) =>
        {
            if (api().Metrics is not { } metrics)
            {
                return ApiResults.NotFound("this hub has no metrics");
            }

            // The exporter writes the answer itself; an IResult (rather than a bare request delegate) puts the route in
            // the OpenAPI document.
            await metrics.ScrapeAsync(context).ConfigureAwait(false);
            return Results.Empty;
        })
        .Describe("GetMetrics", "The hub's metrics in the Prometheus text exposition format (docs/operations.md, Metrics)", "metrics")
        .Produces<string>(StatusCodes.Status200OK, "text/plain");
}
