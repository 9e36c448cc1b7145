using Drover.Cli.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Drover.Cli.Hosting;

/// <summary>The Generic Host under <c>drover serve</c> and <c>drover agent</c>: our own configuration (already merged and
/// validated by the settings catalog), so none of the host's default sources (appsettings.json, DOTNET_ variables);
/// console logging as chosen; systemd integration (Type=notify, journal format) when run as a systemd service;
/// SIGTERM and SIGINT stop it through the host's lifetime.</summary>
internal static class CommandHost
{
    /// <summary>A host that runs <typeparamref name="TService"/> (one instance, also resolvable by its own type) with
    /// <paramref name="config"/> as a singleton. With <paramref name="holdLogsUntilStarted"/> the console's entries wait
    /// behind a <see cref="StartupLogGate"/> that the caller opens or fails once the start is known.</summary>
    public static IHost Build<TConfig, TService>(TConfig config, LoggingConfig logging, bool holdLogsUntilStarted = false)
        where TConfig : class
        where TService : class, IHostedService
    {
        var builder = CreateBuilder(logging, holdLogsUntilStarted);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton<TService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TService>());
        return builder.Build();
    }

    private static HostApplicationBuilder CreateBuilder(LoggingConfig logging, bool holdLogsUntilStarted)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        builder.Services.AddSystemd();
        ConsoleLogging.Configure(builder.Logging, logging.Level, logging.Format, holdLogsUntilStarted);
        // The hub's stop says bye to every agent and flushes the store: give it time.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(60));
        return builder;
    }
}
