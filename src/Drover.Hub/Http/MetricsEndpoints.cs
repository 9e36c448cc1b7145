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
        app.MapGet("/metrics", (HttpContext context) =>
        {
            if (api().Metrics is not { } metrics)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return metrics.ScrapeAsync(context);
        });
}
