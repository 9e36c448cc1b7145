using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/healthz</c>: "ok" while the hub serves. Open: no token needed (load balancers and service managers probe it).</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapMethods("/healthz", ["GET", "HEAD"], () => Results.Text("ok")).WithMetadata(RequiredScope.None);
}
