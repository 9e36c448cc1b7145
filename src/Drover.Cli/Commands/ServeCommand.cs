using System.CommandLine;
using Drover.Cli.Configuration;
using Drover.Cli.Hosting;
using Drover.Hub.Os;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Commands;

/// <summary><c>drover serve</c>: run a hub until Ctrl-C or SIGTERM, on one WebApplication (<see cref="ServeHost"/>). Its flags
/// are generated from <see cref="ServeSettings"/>; exit codes: 0 stopped cleanly, 1 could not start (busy port, unwritable
/// data directory), 2 a bad setting (a value that does not parse, or options that break a rule at the host's start).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run a hub: agents on --listen, HTTP API on --http, data in --data. Every setting is also a DROVER_* variable and a key of the \"hub\" section of drover.json (docs/configuration.md)");
        var settings = ServeSettings.Catalog.AddOptions(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            // Before anything opens a socket: the engine reads its switch once (SocketEngine explains the choice).
            SocketEngine.PreferInlineCompletions();
            if (!settings.TryLoad(parse, out var loaded, out var error))
            {
                await Console.Error.WriteLineAsync($"drover serve: {error}");
                return ExitCodes.Usage;
            }

            await using var app = ServeHost.Build(loaded.Options, ServeSettings.Validator(loaded));
            var startupLog = app.Services.GetRequiredService<StartupLogGate>();
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (OptionsValidationException ex)
            {
                // Thrown before any hosted service started: nothing to close.
                startupLog.Fail();
                await CommandHost.ValidationFailed("serve", ex);
                return ExitCodes.Usage;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or Drover.Storage.StoreException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                // The failure is the one line a user sees: the info lines of the start and of the close are dropped.
                await app.Services.GetRequiredService<HubService>().CloseAsync();
                startupLog.Fail();
                Log.HubStartFailed(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("drover"), ex.Message);
                return 1;
            }

            startupLog.Open();
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
