using System.Net;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Security;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Http;

/// <summary>The HTTP API (docs/http-api.md) on Kestrel: one endpoint group per resource (agents, stats, jobs,
/// health), each given only the narrow interfaces it reads or writes through (<see cref="HubApiParts"/>). The same three
/// steps serve it on any app: <see cref="ConfigureServices"/>, <see cref="ConfigureKestrel"/>, <see cref="Map"/>; drover
/// serve's app uses them (through <see cref="DroverHub.MapApi"/> and its siblings), and so does <see cref="Build"/>, the
/// private app of a hub run without a host.</summary>
internal static class HubApi
{
    /// <summary>The services the endpoints need: routing (already there on most apps) and the API's source-generated JSON.</summary>
    public static void ConfigureServices(IServiceCollection services)
    {
        services.AddRoutingCore();
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        ApiDocument.ConfigureServices(services);
    }

    /// <summary>Listens on <paramref name="endPoint"/>, with the limits the API needs: HTTPS (HTTP/1.1 over TLS 1.2 or 1.3)
    /// with the certificate <paramref name="tls"/> gives at each handshake when it is given (the identity may be loaded
    /// after this runs, at the host's start), plain HTTP when it is null.</summary>
    public static void ConfigureKestrel(KestrelServerOptions kestrel, IPEndPoint endPoint, Func<HubTlsIdentity?>? tls)
    {
        kestrel.Listen(endPoint, listen =>
        {
            if (tls is not null)
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ => ValueTask.FromResult((tls() ?? throw new InvalidOperationException("the hub's TLS identity is not loaded")).HttpsServerOptions()),
                    HandshakeTimeout = TimeSpan.FromSeconds(10),
                });
            }
        });

        // Room for a job's args (up to MaxArgsBytes of UTF-8, percent-encoded: 3 characters a byte) in the query.
        kestrel.Limits.MaxRequestLineSize = Math.Max(kestrel.Limits.MaxRequestLineSize, (3 * JobSubmitParameters.MaxArgsBytes) + 8192);
    }

    /// <summary>Maps every endpoint into one group where each answers 503 (with Retry-After) while <paramref name="api"/>
    /// gives null, that is until the hub has started: a request that arrives during the start never reaches a hub whose
    /// stores are not open yet. After that every request passes the <see cref="ApiGate"/> (host, origin, token, scope)
    /// before its endpoint runs.</summary>
    public static RouteGroupBuilder Map(IEndpointRouteBuilder routes, Func<HubApiParts?> api)
    {
        var root = routes.MapGroup(string.Empty);

        // Each endpoint's request delegate (once the framework has built it) is wrapped, rather than given an endpoint
        // filter: no filter context per request on every endpoint, and endpoints that are not route handlers are covered too.
        ((IEndpointConventionBuilder)root).Finally(endpoint =>
        {
            if (endpoint.RequestDelegate is { } handler)
            {
                var scope = endpoint.Metadata.OfType<RequiredScope>().LastOrDefault();
                endpoint.RequestDelegate = context => api() is not { } parts ? StartingAsync(context) : parts.Gate.Check(context, scope) ?? RunAsync(handler, context);
                ApiDocument.AddGateProblems(endpoint, open: scope?.Scope is null && scope is not null);
            }
        });

        // Past that check the hub has started, and stays so for the app's life.
        HubApiParts Started() => api() ?? throw new InvalidOperationException("the hub has not started");
        AgentEndpoints.Map(root, Started);
        StatsEndpoints.Map(root, Started);
        MetricsEndpoints.Map(root, Started);
        JobEndpoints.Map(root, Started);
        AccessEndpoints.Map(root, Started);
        EnrollmentEndpoints.Map(root, Started);
        HealthEndpoints.Map(root);
        ApiDocument.Map(root);
        Dashboard.LiveEndpoints.Map(root, Started);
        Dashboard.DashboardEndpoints.Map(root);
        return root;
    }

    /// <summary>Has the framework's own answers of <paramref name="app"/> under <c>/api/</c> (404 for a path that is no
    /// route, 405 for a method a route does not take) written as problem details, as the endpoints' are. Before
    /// <see cref="Map"/>, on the app whose routes it maps.</summary>
    public static void UseProblems(IApplicationBuilder app) => app.Use(static async (context, next) =>
    {
        await next(context).ConfigureAwait(false);
        var response = context.Response;
        if (response.HasStarted || response.ContentType is not null || !context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
        {
            return;
        }

        if (response.StatusCode == StatusCodes.Status404NotFound)
        {
            await ApiResults.WriteProblemAsync(context, ProblemCodes.NoRoute, StatusCodes.Status404NotFound, $"no route is {LogTextOf(context.Request.Path)} (docs/http-api.md lists them, /openapi/v1.json describes them)").ConfigureAwait(false);
        }
        else if (response.StatusCode == StatusCodes.Status405MethodNotAllowed)
        {
            await ApiResults.WriteProblemAsync(context, ProblemCodes.MethodNotAllowed, StatusCodes.Status405MethodNotAllowed, $"{LogTextOf(context.Request.Path)} does not take {context.Request.Method}; it takes {response.Headers.Allow}").ConfigureAwait(false);
        }
    });

    private static string LogTextOf(PathString path) => Protocol.LogText.Escape(path.Value, 200);

    /// <summary>Runs an endpoint; a store failure it did not answer itself becomes 500 (507 when the store is full).</summary>
    private static async Task RunAsync(RequestDelegate handler, HttpContext context)
    {
        try
        {
            await handler(context).ConfigureAwait(false);
        }
        catch (StoreException ex) when (!context.Response.HasStarted)
        {
            await ApiResults.StoreFailed(ex, "nothing was changed").ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>The answer before the hub has started: 503, Retry-After: 1.</summary>
    private static Task StartingAsync(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "1";
        return ApiResults.WriteProblemAsync(context, ProblemCodes.Starting, StatusCodes.Status503ServiceUnavailable, "the hub is starting");
    }

    /// <summary>The private app of a hub that serves its API itself (<see cref="HubOptions.HttpEndPoint"/> without a host).</summary>
    public static WebApplication Build(IPEndPoint endPoint, HubTlsIdentity? tls, ILoggerFactory loggerFactory, Func<HubApiParts?> api)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        ConfigureServices(builder.Services);
        builder.WebHost.ConfigureKestrel(kestrel => ConfigureKestrel(kestrel, endPoint, tls is null ? null : () => tls));
        var app = builder.Build();
        UseProblems(app);
        Map(app, api);
        return app;
    }

    /// <summary>The API's endpoints, for the test that holds docs/http-api.md to the routes.</summary>
    public static IReadOnlyList<Endpoint> EndpointsOf(WebApplication? app) =>
        app is IEndpointRouteBuilder routes ? [.. routes.DataSources.SelectMany(source => source.Endpoints)] : [];
}

/// <summary>What the endpoint groups see of a hub: the fleet (<see cref="IFleetView"/>), the stores, the job control,
/// and the submission of jobs. One per hub.</summary>
internal sealed class HubApiParts(HubOptions options, IFleetView fleet, IFleetStore store, IJobStore jobStore, IJobControl jobs, ApiTokens tokens, AuditLog audit, ApiGate gate, UploadDirectory uploads)
{
    public ApiTokens Tokens { get; } = tokens;

    public AuditLog Audit { get; } = audit;

    public ApiGate Gate { get; } = gate;

    public AgentKeys? AgentKeys { get; init; }

    /// <summary>This hub's Prometheus exposition (<c>GET /metrics</c>).</summary>
    public Metrics.MetricsExporter? Metrics { get; init; }

    /// <summary>The agents' connection events waiting for the next flush (credential decisions are added here).</summary>
    public Status.AgentEventLog? Events { get; init; }

    /// <summary>Closes the open session of an agent id, if any, whose credential an operator revoked or rejected.</summary>
    public Action<string>? CloseSessionOf { get; init; }

    public IFleetView Fleet { get; } = fleet;

    public IFleetStore Store { get; } = store;

    public IJobStore JobStore { get; } = jobStore;

    public IJobControl Jobs { get; } = jobs;

    public JobSubmission Submission { get; } = new(options, jobs, fleet, audit, uploads);

    /// <summary>The dashboard's live stream.</summary>
    public required Dashboard.LiveFeed Live { get; init; }
}
