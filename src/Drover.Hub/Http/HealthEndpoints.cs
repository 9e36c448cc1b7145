using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/healthz</c>: "ok" while the hub serves. Open: no token needed (load balancers and service managers probe it).</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok")).WithMetadata(RequiredScope.None)
            .Describe("Health", "\"ok\" while the hub serves (no token needed)", "health")
            .Produces<string>(StatusCodes.Status200OK, "text/plain")
            .Open();
        app.MapMethods("/healthz", ["HEAD"], () => Results.Text("ok")).WithMetadata(RequiredScope.None)
            .Describe("HealthHead", "200 without a body while the hub serves, for probes that use HEAD (no token needed)", "health")
            .Produces(StatusCodes.Status200OK)
            .Open();
    }
}
