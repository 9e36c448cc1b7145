using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Drover.Agent;
using Drover.Hub;
using Drover.Hub.Os;
using Drover.Protocol;
using Drover.Storage;
using Drover.Storage.Sqlite;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover demo</c>: a hub on the embedded default store and a fleet of simulated agents in
/// this one process (async agents, no thread per agent), with a live summary until Ctrl-C.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var agents = new Option<int>("--agents") { Description = "How many simulated agents", DefaultValueFactory = _ => 1000 };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long (e.g. 30s); default: until Ctrl-C" };
        var interval = new Option<string>("--interval") { Description = "Report interval", DefaultValueFactory = _ => "2s" };
        var http = new Option<string>("--http") { Description = "HTTP API address (a free port is taken if it is busy)", DefaultValueFactory = _ => "127.0.0.1:7401" };
        var data = new Option<string?>("--data") { Description = "Data directory (default: a temporary folder, deleted at the end)" };

        var command = new Command("demo", "Run a hub and simulated agents in one process, on SQLite, and show the fleet live")
        {
            agents, duration, interval, http, data,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(agents);
            if (count is < 1 or > 1_000_000)
            {
                return CliParsing.Fail("--agents must be between 1 and 1,000,000");
            }

            TimeSpan? runFor = null;
            if (parse.GetValue(duration) is { } durationText)
            {
                if (!CliParsing.TryParseDuration(durationText, out var parsed, out var error))
                {
                    return CliParsing.Fail($"--duration: {error}");
                }

                runFor = parsed;
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(interval), out var reportInterval, out var intervalError))
            {
                return CliParsing.Fail($"--interval: {intervalError}");
            }

            if (!CliParsing.TryParseEndPoint(parse.GetValue(http), out var httpEndPoint, out var httpError))
            {
                return CliParsing.Fail($"--http: {httpError}");
            }

            // Each simulated agent holds two descriptors in this process: its socket and the hub's.
            var (soft, hard) = SystemLimits.RaiseOpenFilesLimit();
            var needed = (ulong)count * 2 + SystemLimits.ReservedDescriptors;
            if (needed > soft)
            {
                return CliParsing.Fail($"{count} agents in one process need {needed} open files; the limit here is {soft} (hard {hard}). "
                    + $"Use --agents {((long)soft - SystemLimits.ReservedDescriptors) / 2} or less, or see 'drover doctor'.");
            }

            using var stop = StopSignal.Create(cancellationToken);
            if (runFor is { } limit)
            {
                stop.CancelAfter(limit);
            }

            return await RunAsync(count, reportInterval, ChooseHttpEndPoint(httpEndPoint), parse.GetValue(data), stop.Token);
        });
        return command;
    }

    private static async Task<int> RunAsync(int count, TimeSpan interval, IPEndPoint httpEndPoint, string? dataOption, CancellationToken stop)
    {
        var ownsData = dataOption is null;
        var dataDir = dataOption is null ? Directory.CreateTempSubdirectory("drover-demo-").FullName : Path.GetFullPath(dataOption);
        using var loggerFactory = ConsoleLogging.Create(LogLevel.Warning);
        var hubOptions = new HubOptions
        {
            AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HttpEndPoint = httpEndPoint,
            HubId = "demo-hub",
            ReportInterval = interval,
        };
        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(dataDir, "drover.db") };
        var store = new SqliteFleetStore(storeOptions);
        var jobStore = new SqliteJobStore(storeOptions);
        var hub = new DroverHub(hubOptions, store, jobStore, loggerFactory);
        await hub.StartAsync(CancellationToken.None);
        var hubAddress = $"127.0.0.1:{hub.AgentEndPoint.Port}";

        AnsiConsole.MarkupLine($"[bold]Drover demo[/]: hub on [blue]{hubAddress}[/], data in {Markup.Escape(dataDir)}");
        AnsiConsole.MarkupLine($"API: [blue]{hub.ApiUrl}api/stats[/] and [blue]{hub.ApiUrl}api/agents[/]");
        AnsiConsole.MarkupLine($"Try: drover clients --api {hub.ApiUrl}");
        AnsiConsole.MarkupLine($"Starting {count:N0} agents reporting every {interval.TotalSeconds:0.#} s on their slots. Ctrl-C stops.");

        using var agentsStop = new CancellationTokenSource();
        var fleet = new List<DroverAgent>(count);
        var runs = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var random = new Random(i);
            var agent = new DroverAgent(new AgentOptions
            {
                Hubs = [hubAddress],
                AgentId = $"demo-{i:D5}",
                Labels = new Dictionary<string, string> { ["zone"] = (i % 3) switch { 0 => "eu", 1 => "us", _ => "ap" } },
                IncludeSystemMetrics = false,
                StatusProvider = _ => ValueTask.FromResult<IReadOnlyDictionary<string, FieldValue>>(new Dictionary<string, FieldValue>
                {
                    ["cpu"] = FieldValue.From(Math.Round(random.NextDouble() * 100, 1)),
                    ["queue"] = FieldValue.From((long)random.Next(0, 20)),
                }),
            });
            agent.SetState(random.Next(4) == 0 ? AgentState.Busy : AgentState.Idle);
            fleet.Add(agent);
            runs.Add(agent.RunAsync(agentsStop.Token));
        }

        var started = Stopwatch.StartNew();
        var lastReports = 0L;
        using (var ticker = new PeriodicTimer(TimeSpan.FromSeconds(1)))
        {
            try
            {
                while (await ticker.WaitForNextTickAsync(stop))
                {
                    var reports = hub.ReportsRecorded;
                    var states = hub.CountAgentsByPresence();
                    AnsiConsole.MarkupLine(
                        $"[grey]{started.Elapsed:mm\\:ss}[/] online [green]{states[Presence.Online],6:N0}[/] late [yellow]{states[Presence.Late],4:N0}[/] "
                        + $"lost [red]{states[Presence.Lost],4:N0}[/]  reports/s [blue]{reports - lastReports,6:N0}[/]  total {reports,9:N0}");
                    lastReports = reports;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        AnsiConsole.MarkupLine("Stopping: agents say bye, the hub flushes its store.");
        await agentsStop.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        var summary = new Table().AddColumns("agents", "reports recorded", "reports acked by agents", "run time");
        summary.AddRow($"{count:N0}", $"{hub.ReportsRecorded:N0}", $"{fleet.Sum(a => a.ReportsAcked):N0}", $"{started.Elapsed.TotalSeconds:0.0} s");
        foreach (var agent in fleet)
        {
            await agent.DisposeAsync();
        }

        await hub.DisposeAsync();
        await jobStore.DisposeAsync();
        await store.DisposeAsync();
        AnsiConsole.Write(summary);
        if (ownsData)
        {
            Directory.Delete(dataDir, recursive: true);
        }

        return 0;
    }

    /// <summary>The asked-for API address if it is free, else a free port on the same address.</summary>
    private static IPEndPoint ChooseHttpEndPoint(IPEndPoint wanted)
    {
        try
        {
            using var probe = new Socket(wanted.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(wanted);
            return wanted;
        }
        catch (SocketException)
        {
            return new IPEndPoint(wanted.Address, 0);
        }
    }
}
