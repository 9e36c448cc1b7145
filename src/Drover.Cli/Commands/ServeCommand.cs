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
        var maxFileSize = new Option<string>("--max-file-size") { Description = "Largest file a job may carry (e.g. 1MiB, 512KiB; at most 16MiB)", DefaultValueFactory = _ => "1MiB" };
        var maxResultSize = new Option<string>("--max-result-size") { Description = "Largest out file a job result may carry", DefaultValueFactory = _ => "1MiB" };
        var maxQueuedJobs = new Option<int>("--max-queued-jobs") { Description = "Most jobs queued or running at once (beyond it submissions get 503 + Retry-After)", DefaultValueFactory = _ => 100_000 };
        var maxQueuedBytes = new Option<string>("--max-queued-bytes") { Description = "Most bytes of job files queued or running at once", DefaultValueFactory = _ => "1GiB" };
        var leaseGrace = new Option<string>("--lease-grace") { Description = "How long a running job's lease outlives its timeout", DefaultValueFactory = _ => "10s" };
        var disconnectGrace = new Option<string>("--disconnect-grace") { Description = "How long a disconnected agent's jobs wait for it before they are requeued", DefaultValueFactory = _ => "30s" };
        var keepFinished = new Option<string>("--keep-finished") { Description = "How long finished jobs (with their files and results) are kept after they finish (e.g. 24h, 7d)", DefaultValueFactory = _ => "24h" };
        var logLevel = new Option<string>("--log-level") { Description = "trace, debug, info, warn, error or none", DefaultValueFactory = _ => "info" };

        var command = new Command("serve", "Run a hub: agents on --listen, HTTP API on --http, data in --data")
        {
            listen, http, data, interval, maxRate, admitRate, maxAgents, token, hubId, staleAfter, retireAfter,
            maxFileSize, maxResultSize, maxQueuedJobs, maxQueuedBytes, leaseGrace, disconnectGrace, keepFinished, logLevel,
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

            if (!TryParseIntSize(parse.GetValue(maxFileSize), out var fileSize, out error))
            {
                return CliParsing.Fail($"--max-file-size: {error}");
            }

            if (!TryParseIntSize(parse.GetValue(maxResultSize), out var resultSize, out error))
            {
                return CliParsing.Fail($"--max-result-size: {error}");
            }

            if (!CliParsing.TryParseSize(parse.GetValue(maxQueuedBytes), out var queuedBytes, out error))
            {
                return CliParsing.Fail($"--max-queued-bytes: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(leaseGrace), out var lease, out error))
            {
                return CliParsing.Fail($"--lease-grace: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(disconnectGrace), out var disconnect, out error))
            {
                return CliParsing.Fail($"--disconnect-grace: {error}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(keepFinished), out var keep, out error))
            {
                return CliParsing.Fail($"--keep-finished: {error}");
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
                MaxFileSize = fileSize,
                MaxResultSize = resultSize,
                MaxQueuedJobs = parse.GetValue(maxQueuedJobs),
                MaxQueuedBytes = queuedBytes,
                LeaseGrace = lease,
                DisconnectGrace = disconnect,
                KeepFinishedJobs = keep,
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

    /// <summary>A size that must fit an int (file and result limits; HubOptions checks the range).</summary>
    private static bool TryParseIntSize(string? text, out int bytes, out string error)
    {
        bytes = 0;
        if (!CliParsing.TryParseSize(text, out var parsed, out error))
        {
            return false;
        }

        if (parsed > int.MaxValue)
        {
            error = $"'{text}' is too large (at most 16MiB)";
            return false;
        }

        bytes = (int)parsed;
        return true;
    }
}
