using System.Net;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Http;

/// <summary>The HTTP API (docs/http-api.md) on Kestrel: one endpoint group per resource (agents, stats, jobs,
/// health), each given only the narrow interfaces it reads or writes through.</summary>
internal static class HubApi
{
    public static WebApplication Build(
        IPEndPoint endPoint,
        ILoggerFactory loggerFactory,
        HubOptions options,
        IFleetView fleet,
        IFleetStore store,
        IJobStore jobStore,
        IJobControl jobs)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endPoint);

            // Room for a job's args (up to MaxArgsBytes of UTF-8, percent-encoded: 3 characters a byte) in the query.
            kestrel.Limits.MaxRequestLineSize = Math.Max(kestrel.Limits.MaxRequestLineSize, (3 * JobSubmitParameters.MaxArgsBytes) + 8192);
        });
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        var app = builder.Build();

        AgentEndpoints.Map(app, fleet, store, jobs);
        StatsEndpoints.Map(app, fleet, jobStore, jobs);
        JobEndpoints.Map(app, new JobSubmission(options, jobs, fleet), jobStore, jobs);
        HealthEndpoints.Map(app);
        return app;
    }

    /// <summary>The API's endpoints, for the test that holds docs/http-api.md to the routes.</summary>
    public static IReadOnlyList<Endpoint> EndpointsOf(WebApplication? app) =>
        app is IEndpointRouteBuilder routes ? [.. routes.DataSources.SelectMany(source => source.Endpoints)] : [];
}
