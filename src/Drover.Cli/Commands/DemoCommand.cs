using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Drover.Agent;
using Drover.Cli.Configuration;
using Drover.Cli.Demo;
using Drover.Hub;
using Drover.Hub.Security;
using Drover.Api;
using Drover.Hub.Os;
using Drover.Protocol;
using Drover.Storage;
using Drover.Storage.Sqlite;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover demo</c>: a hub on the embedded default store and a fleet of simulated agents in
/// this one process (async agents, no thread per agent, each with an in-process job handler and job slots),
/// a sender that submits sample files through the hub's HTTP API, and a live summary until Ctrl-C.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var agents = new Option<int>("--agents") { Description = "How many simulated agents", DefaultValueFactory = _ => 1000 };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long (e.g. 30s); default: until Ctrl-C" };
        var interval = new Option<string>("--interval") { Description = "Report interval", DefaultValueFactory = _ => "2s" };
        var http = new Option<string>("--http") { Description = "HTTP API address (a free port is taken if it is busy)", DefaultValueFactory = _ => "127.0.0.1:7401" };
        var data = new Option<string?>("--data") { Description = "Data directory (default: a temporary folder, deleted at the end)" };
        var rate = new Option<int>("--jobs-per-second") { Description = "Sample files sent per second through the API, each to an agent at random (0: none)", DefaultValueFactory = _ => 50 };
        var slots = new Option<int>("--slots") { Description = "Job slots of each simulated agent", DefaultValueFactory = _ => 2 };

        var command = new Command("demo", "Run a hub and simulated agents in one process, on SQLite, and show the fleet live")
        {
            agents, duration, interval, http, data, rate, slots,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(agents);
            if (count is < 1 or > 1_000_000)
            {
                return CliParsing.Fail("--agents must be between 1 and 1,000,000");
            }

            var jobsPerSecond = parse.GetValue(rate);
            if (jobsPerSecond is < 0 or > 10_000)
            {
                return CliParsing.Fail("--jobs-per-second must be between 0 and 10,000");
            }

            var jobSlots = parse.GetValue(slots);
            if (jobSlots is < 1 or > 1000)
            {
                return CliParsing.Fail("--slots must be between 1 and 1,000");
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
            var settings = new DemoSettings(count, reportInterval, ChooseHttpEndPoint(httpEndPoint), parse.GetValue(data), jobsPerSecond, jobSlots, runFor);
            return await RunAsync(settings, stop.Token);
        });
        return command;
    }

    /// <summary>Runs the demo until <paramref name="stopSignal"/> fires or, with a duration, that long after the fleet has
    /// started (the hub's start and the agents' creation are not counted: under load they can take seconds).</summary>
    private static async Task<int> RunAsync(DemoSettings settings, CancellationToken stopSignal)
    {
        var count = settings.Agents;
        var ownsData = settings.DataDirectory is null;
        var dataDir = settings.DataDirectory is null ? Directory.CreateTempSubdirectory("drover-demo-").FullName : Path.GetFullPath(settings.DataDirectory);
        using var loggerFactory = ConsoleLogging.Create(LogLevel.Warning);
        // One hub per data directory, as for serve (Hosting/HubService), with the same one-line refusal.
        DataDirectoryLock dataLock;
        try
        {
            dataLock = DataDirectoryLock.Acquire(dataDir);
        }
        catch (StoreException ex)
        {
            Log.HubStartFailed(loggerFactory.CreateLogger("drover"), ex.Message);
            return 1;
        }

        using var releaseDataLock = dataLock;
        // TLS as serve has it by default: the hub's own CA and key in the data directory; the agents pin the key.
        using var tls = HubTlsIdentity.LoadOrCreate(dataDir, [], TimeProvider.System);
        var hubOptions = new HubOptions
        {
            AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HttpEndPoint = settings.HttpEndPoint,
            HubId = "demo-hub",
            ReportInterval = settings.ReportInterval,
            Tls = tls,
            AdminTokenFile = Path.Combine(dataDir, ServeSettings.AdminTokenFileName),
        };
        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(dataDir, "drover.db") };
        var store = new SqliteFleetStore(storeOptions);
        var jobStore = new SqliteJobStore(storeOptions);
        var accessStore = new SqliteAccessStore(storeOptions);
        var hub = new DroverHub(hubOptions, store, jobStore, accessStore, loggerFactory);
        await hub.StartAsync(CancellationToken.None);
        var hubAddress = $"127.0.0.1:{hub.AgentEndPoint.Port}";

        // The sender and the display use the hub's HTTP API as any client would: HTTPS, the key pinned, a submit token.
        var demoToken = await hub.CreateApiTokenAsync(ApiScope.Submit, "drover demo", cancellationToken: CancellationToken.None);
        using var api = HubApiClient.Create(new ApiTarget(hub.ApiUrl!, demoToken, HubTrust.FromKeyFingerprint(tls.Fingerprint)));
        var caFile = Path.Combine(dataDir, HubTlsIdentity.DirectoryName, "ca.pem");
        var tokenFile = hubOptions.AdminTokenFile;
        AnsiConsole.MarkupLine($"[bold]Drover demo[/]: hub on [blue]{hubAddress}[/] (TLS, key {tls.Fingerprint[..11]}...), data in {Markup.Escape(dataDir)}");
        AnsiConsole.MarkupLine($"API: [blue]{hub.ApiUrl}api/stats[/], [blue]{hub.ApiUrl}api/agents[/] and [blue]{hub.ApiUrl}api/jobs[/] (HTTPS, a token on every request)");
        AnsiConsole.MarkupLine(Markup.Escape($"Try: drover clients --api {hub.ApiUrl} --ca {caFile} --api-token-file {tokenFile}"));
        // Plain, on a line of its own: a console that is not a terminal must not wrap the address.
        Console.Out.WriteLine($"Dashboard: {DashboardUrl(hub.ApiUrl!, demoToken)}");
        Console.Out.WriteLine($"  (signs in with the demo's submit token; the browser does not know the hub's own CA: accept its warning once, or import {caFile})");
        AnsiConsole.MarkupLine($"Starting {count:N0} agents reporting every {settings.ReportInterval.TotalSeconds:0.#} s on their slots, "
            + $"{settings.Slots} job slots each; sending {settings.JobsPerSecond:N0} sample files a second to agents at random. Ctrl-C stops.");

        // The agents enroll as agents of a real fleet do: a join token once, each with a key of its own from then on.
        var joinToken = await hub.CreateJoinTokenAsync("drover demo agents", TimeSpan.FromHours(1), count, cancellationToken: CancellationToken.None);

        using var agentsStop = new CancellationTokenSource();
        var fleet = new List<DroverAgent>(count);
        var runs = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var random = new Random(i);
            var id = $"demo-{i:D5}";
            var agent = new DroverAgent(new AgentOptions
            {
                Hubs = [hubAddress],
                Trust = HubTrust.FromKeyFingerprint(tls.Fingerprint),
                AgentId = id,
                Token = joinToken,
                AgentKey = AgentIdentity.NewKey(),
                Labels = new Dictionary<string, string> { ["zone"] = (i % 3) switch { 0 => "eu", 1 => "us", _ => "ap" } },
                IncludeSystemMetrics = false,
                StatusProvider = _ => ValueTask.FromResult<IReadOnlyDictionary<string, FieldValue>>(new Dictionary<string, FieldValue>
                {
                    ["cpu"] = FieldValue.From(Math.Round(random.NextDouble() * 100, 1)),
                    ["queue"] = FieldValue.From((long)random.Next(0, 20)),
                }),
                JobHandler = DemoJobHandler.Instance,
                JobSlots = (ushort)settings.Slots,
                WorkDirectory = Path.Combine(dataDir, "work", id),
            });
            fleet.Add(agent);
            runs.Add(agent.RunAsync(agentsStop.Token));
        }

        using var timed = CancellationTokenSource.CreateLinkedTokenSource(stopSignal);
        if (settings.RunFor is { } limit)
        {
            timed.CancelAfter(limit);
        }

        var stop = timed.Token;
        var started = Stopwatch.StartNew();
        var baseline = (await api.GetStatsAsync(CancellationToken.None)).Jobs;
        using var sender = new DemoJobSender(api, settings.JobsPerSecond);
        var sending = sender.RunAsync(stop);
        var view = new DemoView(hub, api, sender, baseline, started);
        if (DemoView.CanRenderLive)
        {
            await AnsiConsole.Live(view.Render()).AutoClear(false).StartAsync(async context =>
            {
                await TickEverySecondAsync(async () =>
                {
                    await view.UpdateAsync(stop);
                    context.UpdateTarget(view.Render());
                }, stop);
            });
        }
        else
        {
            await TickEverySecondAsync(async () =>
            {
                var finished = await view.UpdateAsync(stop);
                view.WriteLines(finished);
            }, stop);
        }

        AnsiConsole.MarkupLine("Stopping: no new jobs; the fleet finishes the ones it holds (up to 5 s), agents say bye, the hub flushes its store.");
        await sending;
        var final = await DrainAsync(api, baseline, TimeSpan.FromSeconds(5));
        await agentsStop.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        var summary = new CliTable("figure", "value").RightAligned(1);
        summary.AddRow("agents", $"{count:N0}");
        summary.AddRow("reports recorded", $"{hub.ReportsRecorded:N0}");
        summary.AddRow("reports acked by agents", $"{fleet.Sum(a => a.ReportsAcked):N0}");
        summary.AddRow("jobs submitted", $"{sender.Submitted:N0}");
        summary.AddRow("jobs done", $"{final.Done - baseline.Done:N0}");
        summary.AddRow("jobs dead", $"{final.Dead - baseline.Dead:N0}");
        summary.AddRow("jobs left queued or running", $"{final.Queued + final.Running:N0}");
        var accounted = (final.Done - baseline.Done) + (final.Dead - baseline.Dead) + (final.Cancelled - baseline.Cancelled)
            + (final.Queued + final.Running - baseline.Queued - baseline.Running);
        summary.AddRow("jobs lost", $"{sender.Submitted - accounted:N0}");
        summary.AddRow("jobs refused (queue full)", $"{sender.Refused:N0}");
        summary.AddRow("run time", $"{started.Elapsed.TotalSeconds:0.0} s");
        foreach (var agent in fleet)
        {
            await agent.DisposeAsync();
        }

        await hub.DisposeAsync();
        await accessStore.DisposeAsync();
        await jobStore.DisposeAsync();
        await store.DisposeAsync();
        dataLock.Dispose(); // released last: nothing of this hub touches the directory after this
        summary.Write();
        if (sender.Failed > 0)
        {
            AnsiConsole.MarkupLine($"[yellow]{sender.Failed:N0} submissions failed[/]; the last: {Markup.Escape(sender.LastError ?? string.Empty)}");
        }

        if (ownsData)
        {
            Directory.Delete(dataDir, recursive: true);
        }

        return 0;
    }

    /// <summary>Runs <paramref name="tick"/> once a second until <paramref name="stop"/> fires.</summary>
    /// <summary>The dashboard's address with a token after '#': the browser never sends that part, the page takes it
    /// (sessionStorage, for that tab) and drops it from the address.</summary>
    internal static string DashboardUrl(Uri api, string token) => $"{api}#token={Uri.EscapeDataString(token)}";

    private static async Task TickEverySecondAsync(Func<Task> tick, CancellationToken stop)
    {
        using var ticker = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await ticker.WaitForNextTickAsync(stop))
            {
                await tick();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Waits (at most <paramref name="limit"/>) until no job is queued or running; returns the last
    /// counts (<paramref name="last"/> if the API did not answer).</summary>
    private static async Task<JobStatsView> DrainAsync(HubApiClient api, JobStatsView last, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                last = (await api.GetStatsAsync(CancellationToken.None)).Jobs;
                if (last.Queued + last.Running == 0 || deadline.Elapsed >= limit)
                {
                    return last;
                }

                await Task.Delay(100, CancellationToken.None);
            }
        }
        catch (HubApiException ex)
        {
            AnsiConsole.MarkupLine($"[yellow]The job counts could not be read[/]: {Markup.Escape(ex.Message)}");
            return last;
        }
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

/// <summary>What <c>drover demo</c> was asked for.</summary>
internal sealed record DemoSettings(int Agents, TimeSpan ReportInterval, IPEndPoint HttpEndPoint, string? DataDirectory, int JobsPerSecond, int Slots, TimeSpan? RunFor);
