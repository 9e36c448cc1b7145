using System.CommandLine;
using Drover.Cli.Configuration;
using Drover.Cli.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Commands;

/// <summary><c>drover serve</c>: run a hub until Ctrl-C or SIGTERM. Its flags are generated from <see cref="ServeSettings"/>;
/// exit codes: 0 stopped cleanly, 1 could not start (busy port, unwritable data directory), 2 a bad setting.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run a hub: agents on --listen, HTTP API on --http, data in --data. Every setting is also a DROVER_* variable and a key of the \"hub\" section of drover.json (docs/configuration.md)");
        var settings = ServeSettings.Catalog.AddOptions(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!settings.TryLoad(parse, out var config, out var error))
            {
                await Console.Error.WriteLineAsync($"drover serve: {error}");
                return ExitCodes.Usage;
            }

            var host = CommandHost.Build<ServeConfig, HubService>(config, config.Logging, holdLogsUntilStarted: true);
            var startupLog = host.Services.GetRequiredService<StartupLogGate>();
            await using var disposeHost = (IAsyncDisposable)host; // the hub service is disposed asynchronously
            try
            {
                await host.StartAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or Drover.Storage.StoreException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                // The failure is the one line a user sees: the info lines of the start and of the close are dropped.
                await host.Services.GetRequiredService<HubService>().CloseAsync();
                startupLog.Fail();
                Log.HubStartFailed(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("drover"), ex.Message);
                return 1;
            }

            startupLog.Open();
            await host.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
