using System.Net;
using Drover.Hub.Http;
using Drover.Hub.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Drover.Hub;

/// <summary>The hub's HTTP API as a host serves it (drover serve: <see cref="ConfigureApiServices"/>,
/// <see cref="ConfigureApiKestrel"/>, <see cref="MapApi"/>, then <see cref="ApiListening"/>), or as the hub serves it on a
/// private app of its own (tests, demo, bench).</summary>
public sealed partial class DroverHub
{
    /// <summary>The HTTP API's endpoints (empty before start or when the API is off), for the test that
    /// holds docs/http-api.md to the routes.</summary>
    internal IReadOnlyList<Endpoint> ApiEndpoints => HubApi.EndpointsOf(_api);

    /// <summary>Registers what the HTTP API needs in a host's services (routing, its source-generated JSON).</summary>
    public static void ConfigureApiServices(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        HubApi.ConfigureServices(services);
    }

    /// <summary>Has a host's Kestrel listen for the HTTP API on <paramref name="endPoint"/>, with the limits the API needs
    /// (a request line long enough for a job's args): HTTPS with the identity <paramref name="tls"/> gives at each handshake
    /// (it may be loaded at the host's start, after this runs), or plain HTTP when <paramref name="tls"/> is null.</summary>
    public static void ConfigureApiKestrel(KestrelServerOptions kestrel, IPEndPoint endPoint, Func<HubTlsIdentity?>? tls)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endPoint);
        HubApi.ConfigureKestrel(kestrel, endPoint, tls);
    }

    /// <summary>Maps the HTTP API (docs/http-api.md) onto <paramref name="routes"/>, a host's app, for the hub that
    /// <paramref name="hub"/> gives when a request comes: the hub is built when the host starts, after its options were
    /// validated, so the endpoints are mapped before it exists. Until that hub has started (null, or before the end of its
    /// <see cref="StartAsync"/>) every endpoint answers 503 with Retry-After. Returns the group that holds the endpoints.</summary>
    public static RouteGroupBuilder MapApi(IEndpointRouteBuilder routes, Func<DroverHub?> hub)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(hub);
        return HubApi.Map(routes, () => hub()?.StartedApi);
    }

    /// <summary>Has a host's app answer the framework's 404 and 405 under <c>/api/</c> as problem details, as the API's
    /// own errors are (docs/http-api.md, "Errors"). Call it before <see cref="MapApi"/>.</summary>
    public static void UseApiProblems(IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        HubApi.UseProblems(app);
    }

    /// <summary>Tells a hub with <see cref="HostedApi"/> that the host's server listens for its API at
    /// <paramref name="url"/> (the server started after the hub): sets <see cref="ApiUrl"/> and writes the hub's start line.</summary>
    public void ApiListening(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!HostedApi || !_started)
        {
            throw new InvalidOperationException("ApiListening is for a started hub whose API a host serves (HostedApi)");
        }

        ApiUrl = url;
        Log.Started(_logger, Options.HubId, AgentEndPoint.ToString(), url.ToString());
    }

    /// <summary>The API's view of this hub once it has started; null before.</summary>
    private HubApiParts? StartedApi => _started ? _apiParts : null;

    private async Task StartOwnApiAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var api = HubApi.Build(endPoint, Options.Tls, LoggerFactory, () => StartedApi);
        try
        {
            await api.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await api.DisposeAsync().ConfigureAwait(false);
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        _api = api;
        ApiUrl = new Uri(api.Urls.First());
    }
}
