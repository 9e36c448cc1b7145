using Drover.Cli.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Drover.Cli;

/// <summary>One console logger setup for every command: to stderr, UTC timestamps; single-line text, or with
/// <see cref="LogFormat.Json"/> one JSON object per line (the built-in JSON console formatter).</summary>
internal static class ConsoleLogging
{
    public static ILoggerFactory Create(LogLevel level) => LoggerFactory.Create(builder => Configure(builder, level, LogFormat.Simple));

    /// <summary>Sets up <paramref name="builder"/> (a host's logging or a standalone factory's) for the console; with
    /// <paramref name="holdUntilStarted"/> the console sits behind a <see cref="Hosting.StartupLogGate"/> (a DI singleton).</summary>
    public static void Configure(ILoggingBuilder builder, LogLevel level, LogFormat format, bool holdUntilStarted = false)
    {
        builder
            .ClearProviders()
            .SetMinimumLevel(level)
            .AddFilter("Microsoft", LogLevel.Warning)
            // The host logs a start-up failure with its stack trace; the commands report it themselves in one line.
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        if (format == LogFormat.Json)
        {
            builder.AddJsonConsole(console =>
            {
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            // Under systemd, AddSystemd picks the journal formatter; an explicit json choice wins.
            builder.Services.PostConfigure<ConsoleLoggerOptions>(console => console.FormatterName = ConsoleFormatterNames.Json);
        }
        else
        {
            builder.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "HH:mm:ss ";
            });
        }

        builder.Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        if (holdUntilStarted)
        {
            builder.Services.RemoveAll<ILoggerProvider>();
            builder.Services.AddSingleton(services => new Hosting.StartupLogGate(
                new ConsoleLoggerProvider(services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), services.GetServices<ConsoleFormatter>())));
            builder.Services.AddSingleton<ILoggerProvider>(services => services.GetRequiredService<Hosting.StartupLogGate>());
        }
    }
}
