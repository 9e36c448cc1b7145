using System.CommandLine;
using System.Net;
using Drover.Hub;
using Drover.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Commands;

/// <summary><c>drover serve</c>: run a hub until Ctrl-C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Where agents connect (TCP HOST:PORT)", DefaultValueFactory = _ => "0.0.0.0:7400" };
        var http = new Option<string>("--http") { Description = "Where the HTTP API listens (HOST:PORT, or 'off')", DefaultValueFactory = _ => "127.0.0.1:7401" };
        var data = new Option<string>("--data") { Description = "Data directory (the SQLite file lives inside)", DefaultValueFactory = _ => "./drover-data" };
        var interval = new Option<string>("--interval") { Description = "Status report interval (e.g. 60s, 2s, 5m)", DefaultValueFactory = _ => "60s" };
        var maxRate = new Option<int>("--max-reports-per-second") { Description = "Stretch the interval so reports stay under this rate", DefaultValueFactory = _ => 1000 };
        var admitRate = new Option<int>("--admit-rate") { Description = "Hellos admitted per second (reconnect storms beyond it get a spread retry-after)", DefaultValueFactory = _ => 10_000 };
        var maxAgents = new Option<int>("--max-agents") { Description = "Most agents to hold (0: as many as the open-files limit allows)", DefaultValueFactory = _ => 0 };
        var token = new Option<string?>("--token") { Description = "Shared token agents must present (default: $DROVER_TOKEN; none if unset)" };
        var hubId = new Option<string>("--hub-id") { Description = "This hub's name", DefaultValueFactory = _ => Environment.MachineName };
        var staleAfter = new Option<string>("--stale-after") { Description = "A lost agent becomes stale after this long", DefaultValueFactory = _ => "1h" };
        var retireAfter = new Option<string>("--retire-after") { Description = "A stale agent is retired (hidden, kept in the store) after this long", DefaultValueFactory = _ => "7d" };
        var logLevel = new Option<string>("--log-level") { Description = "trace, debug, info, warn, error or none", DefaultValueFactory = _ => "info" };

        var command = new Command("serve", "Run a hub: agents on --listen, HTTP API on --http, data in --data")
        {
            listen, http, data, interval, maxRate, admitRate, maxAgents, token, hubId, staleAfter, retireAfter, logLevel,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!CliParsing.TryParseEndPoint(parse.GetValue(listen), out var agentEndPoint, out var error))
            {
                return CliParsing.Fail($"--listen: {error}");
            }

            IPEndPoint? httpEndPoint = null;
            var httpText = parse.GetValue(http);
            if (!string.Equals(httpText, "off", StringComparison.OrdinalIgnoreCase) && !CliParsing.TryParseEndPoint(httpText, out httpEndPoint, out error))
            {
                return CliParsing.Fail($"--http: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(interval), out var reportInterval, out error))
            {
                return CliParsing.Fail($"--interval: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(staleAfter), out var stale, out error))
            {
                return CliParsing.Fail($"--stale-after: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(retireAfter), out var retire, out error))
            {
                return CliParsing.Fail($"--retire-after: {error}");
            }

            var options = new HubOptions
            {
                AgentEndPoint = agentEndPoint,
                HttpEndPoint = httpEndPoint,
                ReportInterval = reportInterval,
                MaxReportsPerSecond = parse.GetValue(maxRate),
                AdmitPerSecond = parse.GetValue(admitRate),
                MaxAgents = parse.GetValue(maxAgents),
                Token = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("DROVER_TOKEN") ?? string.Empty,
                HubId = parse.GetValue(hubId)!,
                StaleAfter = stale,
                RetireAfter = retire,
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                return CliParsing.Fail(ex.Message);
            }

            if (!CliParsing.TryParseLogLevel(parse.GetValue(logLevel), out var level))
            {
                return CliParsing.Fail("--log-level must be one of trace, debug, info, warn, error, none");
            }

            var dataDir = Path.GetFullPath(parse.GetValue(data)!);
            using var stop = StopSignal.Create(cancellationToken);
            using var loggerFactory = ConsoleLogging.Create(level);
            var logger = loggerFactory.CreateLogger("drover");
            var storeOptions = new SqliteStoreOptions { Path = Path.Combine(dataDir, "drover.db") };
            await using var store = new SqliteFleetStore(storeOptions);
            await using var jobStore = new SqliteJobStore(storeOptions);
            var hub = new DroverHub(options, store, jobStore, loggerFactory);
            try
            {
                await hub.StartAsync(stop.Token);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or Drover.Storage.StoreException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                logger.LogCritical("Hub could not start: {Message}", ex.Message);
                await hub.DisposeAsync();
                return 1;
            }

            logger.LogInformation("Data in {DataDir}; report interval {Interval}", dataDir, options.ReportInterval);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            logger.LogInformation("Stopping: saying bye to every agent and flushing the store");
            await hub.DisposeAsync();
            return 0;
        });
        return command;
    }
}
