using Drover.Cli.Configuration;
using Drover.Hub;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Hosting;

/// <summary>The one WebApplication under <c>drover serve</c>: the hub as a hosted service (<see cref="HubService"/>) and the
/// hub's HTTP API on this app's Kestrel, listening on <c>--http</c> (with <c>--http off</c> no server listens at all). It is the
/// place for whatever else the HTTP port will carry (TLS in <see cref="DroverHub.ConfigureApiKestrel"/>'s neighbourhood,
/// middleware before the endpoints, more endpoints beside them).
/// <para>Start order: the options are validated (<c>ValidateOnStart</c>: a broken rule stops the start before anything
/// else), then the hosted services start in the order they were registered, and a WebApplication registers its web server's
/// service last, at <c>Build</c>: so the hub takes the data-directory lock, opens its stores and starts first, and only then
/// does Kestrel listen. The stop runs in reverse: the server stops taking requests, then the hub says bye and flushes.</para></summary>
internal static class ServeHost
{
    public static WebApplication Build(ServeConfig config, IValidateOptions<HubOptions> validator)
    {
        // The empty builder, not the slim one: our configuration only (the settings catalog merged it). The slim builder reads
        // ASPNETCORE_ and DOTNET_ variables while it is constructed, and clearing its sources afterwards is too late for
        // ASPNETCORE_URLS/DOTNET_URLS, which still reach Kestrel's address list (a warning at each start, and "--http" no
        // longer the only word on where the API listens). What the slim builder adds beyond that (Kestrel, routing) is
        // added below when the API is on; appsettings.json, a "Kestrel" section and the console logger are left out.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ContentRootPath = Directory.GetCurrentDirectory(),
            EnvironmentName = Environments.Production,
        });
        CommandHost.Configure(builder, config.Logging, holdLogsUntilStarted: true);
        HubService? hubService = null;
        CommandHost.AddValidatedOptions(builder.Services, config.Hub, validator);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton<HubService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<HubService>());
        if (config.Hub.HttpEndPoint is { } http)
        {
            DroverHub.ConfigureApiServices(builder.Services);
            // HTTPS with the agent port's identity, which the hub service loads at its start (before Kestrel listens); read
            // at each handshake. (Not resolved from the services here: the hub service itself needs the server.)
            builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => DroverHub.ConfigureApiKestrel(kestrel, http, config.Insecure ? null : () => hubService?.Tls));
        }
        else
        {
            builder.Services.AddSingleton<IServer, NoHttpServer>(); // a WebApplication needs a server; this one listens nowhere
        }

        var app = builder.Build();
        if (config.Hub.HttpEndPoint is not null)
        {
            // The hub is built at start (after validation and the lock); the endpoints ask for it per request.
            hubService = app.Services.GetRequiredService<HubService>();
            DroverHub.UseApiProblems(app);
            DroverHub.MapApi(app, () => hubService.StartedHub);
        }

        return app;
    }
}
