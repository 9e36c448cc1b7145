using System.Collections.Frozen;
using System.Security.Cryptography;
using Drover.Hub.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Dashboard;

/// <summary>The dashboard's page and assets (Dashboard/wwwroot, embedded in this assembly: nothing to build or install):
/// <c>/</c> is the page, <c>/dashboard/{file}</c> its script and style. They are open (no token: they hold no data; the
/// page asks for a token and sends it with each API call) but pass the API's host and origin checks, and carry a strict
/// Content-Security-Policy: scripts and styles from this origin only, connections to this origin only, no framing.</summary>
internal static class DashboardEndpoints
{
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html"))
            .WithMetadata(RequiredScope.None)
            .Describe("GetDashboard", "The dashboard's page (no token needed: it asks for one)", "dashboard")
            .Produces<string>(StatusCodes.Status200OK, "text/html")
            .Open();
        app.MapGet("/dashboard/{file}", (HttpContext context, string file) => Serve(context, file))
            .WithMetadata(RequiredScope.None)
            .Describe("GetDashboardFile", "A script or style of the dashboard (no token needed)", "dashboard")
            .Produces<string>(StatusCodes.Status200OK, "text/javascript", "text/css")
            .Problems(StatusCodes.Status404NotFound)
            .Open();
    }

    /// <summary>The embedded files by name, for the tests.</summary>
    internal static IEnumerable<string> Files => Assets.Keys;

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.TryGetValue(file, out var asset))
        {
            return ApiResults.NotFound($"no dashboard file '{file}'");
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = Policy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XFrameOptions = "DENY";
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        const string prefix = "dashboard/";
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var file = name[prefix.Length..];
            var etag = $"\"{Convert.ToHexStringLower(SHA256.HashData(content), 0, 8)}\"";
            assets[file] = new Asset(content, ContentTypeOf(file), etag);
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
