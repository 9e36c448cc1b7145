using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Drover.Api;
using Drover.Bench;
using Drover.Hub.Os;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover bench</c>: simulate a fleet against a hub and measure it from outside.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var agents = new Option<int?>("--agents") { Description = "Simulated agents (one process; one open file each); default 10,000, or 100 with --jobs" };
        var interval = new Option<string>("--interval") { Description = "Report interval of the bench's hub", DefaultValueFactory = _ => "10s" };
        var duration = new Option<string?>("--duration") { Description = "Length of the measured run (default 60s; 10s with --closed-loop)" };
        var closedLoop = new Option<bool>("--closed-loop") { Description = "Each agent sends its next report as soon as the ack arrives (maximum throughput)" };
        var naive = new Option<bool>("--naive") { Description = "Agents ignore their slots and report at the top of each interval" };
        var restartAt = new Option<string?>("--restart-at") { Description = "kill -9 the hub this far into the run, restart it on the same data, measure the reconnect storm" };
        var hub = new Option<string?>("--hub") { Description = "Measure an external hub at HOST:PORT instead of starting one (needs --hub-pid)" };
        var hubPid = new Option<int?>("--hub-pid") { Description = "The external hub's process id, for its /proc figures" };
        var hubApi = new Option<string?>("--hub-api") { Description = "The external hub's HTTP API (default http://HOST:7401)" };
        var apiToken = new Option<string?>("--api-token") { Description = "The external hub's API token (default: $DROVER_API_TOKEN; submit scope for --jobs)" };
        var tls = new Option<bool>("--tls") { Description = "The agent port over TLS, as serve has it by default (the simulated agents pin the hub's key); without it the bench's hub runs with --insecure" };
        var hubFingerprint = new Option<string?>("--hub-fingerprint") { Description = "An external hub's key fingerprint: the simulated agents speak TLS to it and pin it" };
        var token = new Option<string>("--token") { Description = "Token the simulated agents present", DefaultValueFactory = _ => "bench-token" };
        var idPrefix = new Option<string>("--id-prefix") { Description = "The simulated agents' ids are PREFIX-000000, PREFIX-000001, ... (give each bench process against one hub its own)", DefaultValueFactory = _ => "bench" };
        var admitRate = new Option<int?>("--admit-rate") { Description = "--admit-rate for the bench's own hub" };
        var idle = new Option<string>("--idle") { Description = "Idle time before the memory reading", DefaultValueFactory = _ => "5s" };
        var hubEnv = new Option<string[]>("--hub-env") { Description = "KEY=VALUE environment for the bench's own hub (repeatable), e.g. DOTNET_GCgen0size=0x400000" };
        var perSource = new Option<int>("--agents-per-source-address")
        {
            Description = "Agents per 127.0.0.x source address before the next one is used (past ~14,000 from one address, Linux's choice of a port slows every connect)",
            DefaultValueFactory = _ => new BenchOptions().AgentsPerSourceAddress,
        };
        var warmup = new Option<int>("--warmup") { Description = "Agents that connect and leave before the 'before' memory reading (one-time costs are not per agent); 0 for none", DefaultValueFactory = _ => 200 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with every figure" };
        var jobs = new Option<int>("--jobs") { Description = "Job mode: submit this many jobs through POST /api/jobs and measure dispatch end to end (submit → result committed)" };
        var fileSize = new Option<string>("--file-size") { Description = "Job mode: size of each job's file (e.g. 4KiB, 1MiB)", DefaultValueFactory = _ => "4KiB" };
        var batch = new Option<int>("--batch") { Description = "Job mode: files per request (multipart); 1 sends one raw-body request per file", DefaultValueFactory = _ => new BenchOptions().Batch };
        var rate = new Option<double?>("--rate") { Description = "Job mode: pace submission at this many jobs/s (open loop); default: as fast as the hub takes them" };
        var slots = new Option<int>("--slots") { Description = "Job mode: job slots each simulated agent advertises", DefaultValueFactory = _ => 8 };
        var distinctFiles = new Option<int?>("--distinct-files") { Description = "Job mode: how many different files the jobs carry (job i carries file i mod N, as one script sent to many agents); default: every job its own file" };
        var submitters = new Option<int>("--submitters") { Description = "Job mode: requests in flight at once", DefaultValueFactory = _ => 4 };
        var warmupJobs = new Option<int>("--warmup-jobs") { Description = "Job mode: jobs in each of 3 warm-up rounds before the measured run (the hub's code reaches its final JIT tier); 0 for none", DefaultValueFactory = _ => 5_000 };
        var jobDrain = new Option<string>("--drain") { Description = "Job mode: how long to wait for results after the last submission before counting the missing ones lost", DefaultValueFactory = _ => "30s" };

        var command = new Command("bench", "Simulate a fleet against a hub and measure memory per agent, CPU per report, latency, spread and restarts")
        {
            agents, interval, duration, closedLoop, naive, restartAt, hub, hubPid, hubApi, apiToken, hubFingerprint, tls, token, idPrefix, admitRate, idle, hubEnv, perSource, warmup, json,
            jobs, fileSize, batch, rate, slots, distinctFiles, submitters, warmupJobs, jobDrain,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!CliParsing.TryParseDuration(parse.GetValue(interval), out var reportInterval, out var error))
            {
                return CliParsing.Fail($"--interval: {error}");
            }

            if (!Protocol.AgentIds.IsValid(parse.GetValue(idPrefix) + "-000000", out var idProblem))
            {
                return CliParsing.Fail($"--id-prefix: the agents' ids would be invalid: {idProblem}");
            }

            var runFor = parse.GetValue(closedLoop) ? TimeSpan.FromSeconds(10) : TimeSpan.FromSeconds(60);
            if (parse.GetValue(duration) is { } durationText && !CliParsing.TryParseDuration(durationText, out runFor, out error))
            {
                return CliParsing.Fail($"--duration: {error}");
            }

            TimeSpan? restart = null;
            if (parse.GetValue(restartAt) is { } restartText)
            {
                if (!CliParsing.TryParseDuration(restartText, out var at, out error))
                {
                    return CliParsing.Fail($"--restart-at: {error}");
                }

                restart = at;
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(idle), out var idleFor, out error))
            {
                return CliParsing.Fail($"--idle: {error}");
            }

            IPEndPoint? external = null;
            if (parse.GetValue(hub) is { } hubText && !CliParsing.TryParseEndPoint(hubText, out external, out error))
            {
                return CliParsing.Fail($"--hub: {error}");
            }

            Uri? api = null;
            if (parse.GetValue(hubApi) is { } apiText && !Uri.TryCreate(apiText.EndsWith('/') ? apiText : apiText + "/", UriKind.Absolute, out api))
            {
                return CliParsing.Fail($"--hub-api: '{apiText}' is not a URL");
            }

            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(hubEnv) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    return CliParsing.Fail($"--hub-env: '{pair}' is not KEY=VALUE");
                }

                environment[pair[..equals]] = pair[(equals + 1)..];
            }

            if (!SizeText.TryParse(parse.GetValue(fileSize), out var fileBytes))
            {
                return CliParsing.Fail($"--file-size: '{parse.GetValue(fileSize)}' is not a size; {SizeText.Examples}");
            }

            if (!CliParsing.TryParseDuration(parse.GetValue(jobDrain), out var drainFor, out error))
            {
                return CliParsing.Fail($"--drain: {error}");
            }

            var jobCount = parse.GetValue(jobs);
            var options = new BenchOptions
            {
                Agents = parse.GetValue(agents) ?? (jobCount > 0 ? BenchOptions.DefaultJobAgents : 10_000),
                Jobs = jobCount,
                FileSize = (int)Math.Min(int.MaxValue, fileBytes),
                Batch = parse.GetValue(batch),
                Rate = parse.GetValue(rate),
                JobSlots = parse.GetValue(slots),
                DistinctFiles = parse.GetValue(distinctFiles),
                Submitters = parse.GetValue(submitters),
                WarmUpJobs = parse.GetValue(warmupJobs),
                JobDrain = drainFor,
                Interval = reportInterval,
                Duration = runFor,
                ClosedLoop = parse.GetValue(closedLoop),
                Naive = parse.GetValue(naive),
                RestartAt = restart,
                Idle = idleFor,
                Hub = external,
                HubPid = parse.GetValue(hubPid),
                HubApi = api,
                ApiToken = parse.GetValue(apiToken) ?? Environment.GetEnvironmentVariable("DROVER_API_TOKEN"),
                Token = parse.GetValue(token)!,
                IdPrefix = parse.GetValue(idPrefix)!,
                Tls = parse.GetValue(tls),
                HubFingerprint = parse.GetValue(hubFingerprint),
                AdmitRate = parse.GetValue(admitRate),
                HubEnvironment = environment,
                AgentsPerSourceAddress = parse.GetValue(perSource),
                WarmUpAgents = parse.GetValue(warmup),
            };

            var (soft, _) = SystemLimits.RaiseOpenFilesLimit();
            var asJson = parse.GetValue(json);
            BenchResult result;
            try
            {
                options.Validate();
                result = asJson
                    ? await FleetBench.RunAsync(options, soft, progress: null, cancellationToken)
                    : await RunWithProgressAsync(options, soft, cancellationToken);
            }
            catch (ArgumentException ex)
            {
                return CliParsing.Fail(ex.Message);
            }

            if (asJson)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(result, BenchJsonContext.Default.BenchResult));
            }
            else
            {
                RenderSummary(result);
            }

            return result.Failures.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static async Task<BenchResult> RunWithProgressAsync(BenchOptions options, ulong openFiles, CancellationToken cancellationToken)
    {
        AnsiConsole.MarkupLine(options.JobMode
            ? $"[bold]drover bench[/]: {options.Jobs:N0} jobs of {SizeText.Format(options.FileSize)}, {options.Batch:N0} per request, {(options.Rate is { } r ? $"{r:N0} jobs/s" : "unpaced")}, {options.Agents:N0} agents with {options.JobSlots} slots"
            : $"[bold]drover bench[/]: {options.Agents:N0} agents, mode {options.Mode}, interval {options.Interval.TotalSeconds:0.#} s, run {options.Duration.TotalSeconds:0.#} s");
        return await CliProgress.RunAsync(async progress =>
        {
            if (progress is null)
            {
                return await FleetBench.RunAsync(options, openFiles, progress: null, cancellationToken);
            }

            // One bar per phase (connecting: agents connected / asked; idle and the run: seconds elapsed / the phase's length).
            var tasks = new Dictionary<string, ProgressTask>();
            var result = await FleetBench.RunAsync(options, openFiles, (phase, done, total) =>
            {
                if (!tasks.TryGetValue(phase, out var task))
                {
                    foreach (var previous in tasks.Values)
                    {
                        previous.Value = previous.MaxValue;
                        previous.StopTask();
                    }

                    tasks[phase] = task = progress.AddTask(phase, total);
                }

                task.Value = done;
                task.Description = PhaseText(phase, done, total, options.JobMode);
            }, cancellationToken);
            foreach (var task in tasks.Values)
            {
                task.Value = task.MaxValue;
                task.StopTask();
            }

            return result;
        });
    }

    /// <summary>"connecting 812/1,000 agents", "idle 4/10 s", "interval 12/60 s", and in job mode "jobs 300/1,000 jobs".</summary>
    private static string PhaseText(string phase, int done, int total, bool jobMode) => phase switch
    {
        "connecting" => $"{phase} {done:N0}/{total:N0} agents",
        "idle" => $"{phase} {done:N0}/{total:N0} s",
        _ when jobMode => $"{phase} {done:N0}/{total:N0} jobs",
        _ => $"{phase} {done:N0}/{total:N0} s",
    };

    private static void RenderSummary(BenchResult r)
    {
        var table = new CliTable("figure", "value").Wrap(1);
        void Row(string name, string value) => table.AddRow(name, value);
        Row("agents connected", $"{r.Connected:N0} / {r.Agents:N0} in {r.ConnectSeconds:0.00} s; the hub counts {r.HubOnline:N0} online");
        Row(r.Jobs is null ? "hub memory per idle agent" : "hub memory before jobs", r.Jobs is null
            ? $"{r.HubRssKibPerAgent:0.00} KiB ({r.HubRssBeforeKib:N0} → {r.HubRssAfterKib:N0} KiB RSS)"
            : $"{r.HubRssAfterKib:N0} KiB RSS with the fleet connected");
        Row("hub threads", r.HubThreads.ToString(CultureInfo.InvariantCulture));
        if (r.Jobs is not null)
        {
            RenderJobs(table, r);
        }
        else
        {
            RenderReports(table, r);
        }

        foreach (var failure in r.Failures)
        {
            table.AddRow(new CliCell("failure", "red"), failure);
        }

        table.Write();
    }

    private static void RenderJobs(CliTable table, BenchResult r)
    {
        void Row(string name, string value) => table.AddRow(name, value);
        var pace = r.Rate is { } rate ? $"paced at {rate:N0} jobs/s" : "unpaced";
        var files = r.DistinctFiles is { } distinct ? $", {distinct:N0} different files" : string.Empty;
        Row("jobs", $"{r.Jobs:N0} of {SizeText.Format(r.FileSizeBytes ?? 0)}{files}, {r.Batch:N0} per request ({pace}, {r.Submitters} submitters); {r.Agents:N0} agents × {r.JobSlots} slots");
        Row("jobs done / accepted", $"{r.JobsDone:N0} / {r.JobsAccepted:N0} (refused {r.JobsRefused:N0}; the hub counts {r.HubJobsDone:N0} done, {r.HubJobsDead:N0} dead, {r.HubJobsOpen:N0} open)");
        Row("jobs per second, end to end", $"{r.JobsPerSecond:N0} (in {r.JobSeconds:0.00} s; accepted at {r.SubmitPerSecond:N0}/s)");
        Row("submit → result p50 / p99 / max", $"{r.JobP50Ms:0.00} / {r.JobP99Ms:0.00} / {r.JobMaxMs:0.00} ms");
        Row("submit → job frame p50 / p99", $"{r.DispatchP50Ms:0.00} / {r.DispatchP99Ms:0.00} ms");
        Row("result → ack p50 / p99", $"{r.ResultAckP50Ms:0.00} / {r.ResultAckP99Ms:0.00} ms");
        Row("request p50 / p99", $"{r.RequestP50Ms:0.00} / {r.RequestP99Ms:0.00} ms ({r.Requests:N0} requests, {r.RequestsRetried:N0} answered 503)");
        Row("hub CPU per job", $"{r.HubCpuUsPerJob:0.0} µs ({r.HubCpuSeconds:0.00} s CPU); the bench's own: {r.BenchCpuUsPerJob:0.0} µs; load average {r.LoadAverage:0.00}");
        Row("hub RSS peak / end", $"{r.HubRssPeakKib:N0} / {r.HubRssEndKib:N0} KiB");
        Row("hub storage writes per job", $"{r.HubWriteKibPerJob:0.0} KiB (/proc/PID/io write_bytes)");
        Row("jobs lost", (r.JobsLost ?? 0).ToString(CultureInfo.InvariantCulture));
        Row("hash mismatches / redelivered", $"{r.HashMismatches} / {r.JobsRedelivered}");
        Row("most jobs held by one agent", $"{r.MaxJobsHeld} ({r.JobsBeforeAck:N0} jobs arrived before the ack that freed their slot)");
    }

    private static void RenderReports(CliTable table, BenchResult r)
    {
        void Row(string name, string value) => table.AddRow(name, value);
        Row("reports acked", $"{r.ReportsAcked:N0} ({r.ReportsPerSecond:N0}/s)");
        Row("hub CPU per report", $"{r.HubCpuUsPerReport:0.0} µs ({r.HubCpuSeconds:0.00} s CPU)");
        if (r.HubWriteBytesPerReport is { } written)
        {
            Row("hub storage writes per report", $"{written:N0} B");
        }
        Row("ack latency p50 / p99", $"{r.AckP50Ms:0.00} / {r.AckP99Ms:0.00} ms");
        if (r.ArrivalsPerSecond.Count > 0)
        {
            Row("arrivals peak / mean", $"{r.ArrivalsPeakToMean:0.00} (per second: {string.Join(' ', r.ArrivalsPerSecond.Take(20))}{(r.ArrivalsPerSecond.Count > 20 ? " …" : string.Empty)})");
        }

        Row("reports lost", r.ReportsLost.ToString(CultureInfo.InvariantCulture));
        if (r.ReconnectSeconds is { } reconnect)
        {
            Row("restart: all agents back after", $"{reconnect:0.00} s (hub up in {r.HubRestartSeconds:0.00} s; in flight at kill {r.ReportsInFlightAtKill:N0})");
            Row("restart: gave up / lost during grace", $"{r.AgentsGaveUp} / {r.LostDuringGrace}");
        }
    }
}
