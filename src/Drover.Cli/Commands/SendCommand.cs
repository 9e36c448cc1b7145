using Drover.Api;
using System.CommandLine;
using System.Text.Json;
using Drover.Cli.Jobs;
using Drover.Storage;

namespace Drover.Cli.Commands;

/// <summary><c>drover send FILE...</c>: submits files as jobs through the hub's HTTP API, optionally waits for
/// their results. Exit codes: 0 sent (with --wait: every job done), 1 some job ended dead or cancelled,
/// 2 wrong flags or a file that cannot be sent, 3 the hub could not be reached or answered an error.</summary>
internal static class SendCommand
{
    /// <summary>The first poll of --wait comes this long after submitting; without progress the pause grows to <see cref="MaxPoll"/>.</summary>
    internal static readonly TimeSpan MinPoll = TimeSpan.FromMilliseconds(200);

    internal static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(1);

    public static Command Create()
    {
        var files = new Argument<string[]>("FILE") { Description = "Files to send, one job each (at most 16 MiB each; the hub's --max-file-size may be lower)", Arity = ArgumentArity.OneOrMore };
        var to = new Option<string?>("--to") { Description = "Where the jobs may run: random (default), least-loaded, agent:ID or label:key=value" };
        var args = new Option<string?>("--args") { Description = "A string handed to the handler (DROVER_ARGS)" };
        var timeout = new Option<string?>("--timeout") { Description = "How long one attempt may run: 500ms, 30s, 5m, 1h (default 5m)" };
        var retries = new Option<int?>("--retries") { Description = "How many times a failed attempt is retried (default 2)" };
        var priority = new Option<int?>("--priority") { Description = "Higher runs first (default 0)" };
        var wait = new Option<bool>("--wait") { Description = "Wait until every job is done, dead or cancelled, and print each result as it arrives" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per job" };
        var api = new ApiAccess();

        var command = new Command("send", "Send files to agents as jobs (several files go in one request)") { files, to, args, timeout, retries, priority, wait, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new JobSubmitOptions { Args = parse.GetValue(args), Retries = parse.GetValue(retries), Priority = parse.GetValue(priority) };
            if (parse.GetValue(to) is { } toText)
            {
                if (!Protocol.JobTarget.TryParse(toText, out var target, out var error))
                {
                    return CliParsing.Fail($"--to: {error}");
                }

                options = options with { Target = target };
            }

            if (parse.GetValue(timeout) is { } timeoutText)
            {
                if (!CliParsing.TryParseDuration(timeoutText, out var value, out var error))
                {
                    return CliParsing.Fail($"--timeout: {error}");
                }

                if (value < TimeSpan.FromMilliseconds(1))
                {
                    return CliParsing.Fail("--timeout must be at least 1ms");
                }

                options = options with { Timeout = value };
            }

            if (options.Retries < 0)
            {
                return CliParsing.Fail("--retries must be 0 or more");
            }

            if (!TryCheckFiles(parse.GetValue(files) ?? [], out var checkedFiles, out var fileError))
            {
                return CliParsing.Fail(fileError);
            }

            var printJson = parse.GetValue(json);
            var waitForResults = parse.GetValue(wait);
            return await HubApiClient.RunAsync(api, parse, async client =>
            {
                var submitted = await CliProgress.RunAsync(progress => UploadAsync(client, checkedFiles, options, progress, cancellationToken));
                var jobs = submitted.Jobs;
                if (submitted.Warning is { } warning)
                {
                    // On stderr, so that stdout stays the job ids (or JSON) a script reads.
                    await Console.Error.WriteLineAsync($"warning: {warning}");
                }

                var announce = waitForResults ? Console.Error : Console.Out;
                foreach (var job in jobs)
                {
                    await announce.WriteLineAsync(printJson && !waitForResults
                        ? JsonSerializer.Serialize(job, ApiJsonContext.Default.SubmittedJob)
                        : $"{job.Id}  queued     {job.Name}  {job.Size} bytes");
                }

                if (waitForResults && options.Target?.AgentId is { } agentId)
                {
                    await Console.Error.WriteLineAsync($"waiting for {(jobs.Count == 1 ? "the job" : $"{jobs.Count} jobs")} on agent {agentId} (Ctrl-C stops waiting; the jobs stay queued)");
                }

                return waitForResults
                    ? await CliProgress.RunAsync(progress => WaitAsync(client, jobs, printJson, TimeProvider.System, cancellationToken, progress))
                    : ExitCodes.Ok;
            });
        });
        return command;
    }

    /// <summary>Submits the files in one request; with <paramref name="progress"/>, a bar of the bytes sent, named by the files sent.</summary>
    private static Task<SubmitResponse> UploadAsync(HubApiClient client, List<FileInfo> files, JobSubmitOptions options, CliProgress? progress, CancellationToken cancellationToken)
    {
        if (progress is null)
        {
            return client.SubmitAsync(files, options, sent: null, cancellationToken);
        }

        var upload = progress.AddTask(UploadText(0, files.Count), files.Sum(f => f.Length));
        var filesSent = 0;
        return client.SubmitAsync(files, options, (bytes, last) =>
        {
            upload.Increment(bytes);
            if (last)
            {
                upload.Description = UploadText(Interlocked.Increment(ref filesSent), files.Count);
            }
        }, cancellationToken);
    }

    private static string UploadText(int sent, int total) => $"uploading: {sent:N0}/{total:N0} files";

    /// <summary>Checks every file before anything is sent: it exists, is a regular file, can be opened for
    /// reading, and is at most <see cref="JobRecord.MaxContentBytes"/>.</summary>
    internal static bool TryCheckFiles(IReadOnlyList<string> paths, out List<FileInfo> files, out string error)
    {
        files = new List<FileInfo>(paths.Count);
        error = string.Empty;
        if (paths.Count == 0)
        {
            error = "send: give at least one FILE";
            return false;
        }

        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                error = $"{path} is a directory; send the files in it (for example: drover send {Path.Combine(path, "*")})";
                return false;
            }

            var file = new FileInfo(path);
            if (!file.Exists)
            {
                error = $"{path}: no such file";
                return false;
            }

            if (file.Length > JobRecord.MaxContentBytes)
            {
                error = $"{path} is {file.Length:N0} bytes; a job carries at most {JobRecord.MaxContentBytes:N0} bytes (16 MiB), and the hub's --max-file-size may be lower";
                return false;
            }

            try
            {
                using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error = $"cannot read {path}: {ex.Message}";
                return false;
            }

            files.Add(file);
        }

        return true;
    }

    /// <summary>Polls each unfinished job until it is done, dead or cancelled, printing each as it finishes.
    /// Returns 0 when every job is done, 1 when any is dead or cancelled.</summary>
    internal static async Task<int> WaitAsync(HubApiClient client, IReadOnlyList<SubmittedJob> jobs, bool json, TimeProvider time, CancellationToken cancellationToken, CliProgress? progress = null)
    {
        var finished = progress?.AddTask(WaitText(0, jobs.Count), jobs.Count);
        var pending = jobs.Select(j => j.Id).ToList();
        var failed = false;
        var delay = MinPoll;
        while (pending.Count > 0)
        {
            await Task.Delay(delay, time, cancellationToken);
            var still = new List<string>(pending.Count);
            foreach (var id in pending)
            {
                var job = await client.GetJobAsync(id, cancellationToken);
                if (!JobStates.IsFinal(job.State))
                {
                    still.Add(id);
                    continue;
                }

                failed |= job.State != "done";
                var text = json ? JobOutput.Json(job) : JobOutput.JobLine(job);
                if (progress is null)
                {
                    await Console.Out.WriteLineAsync(text);
                }
                else
                {
                    progress.WriteLine(text);
                    finished!.Increment(1);
                    finished.Description = WaitText((int)finished.Value, jobs.Count);
                }
            }

            delay = NextPoll(delay, progressed: still.Count < pending.Count);
            pending = still;
        }

        return failed ? ExitCodes.JobsFailed : ExitCodes.Ok;
    }

    private static string WaitText(int finished, int total) => $"jobs finished: {finished:N0}/{total:N0}";

    /// <summary>Back to <see cref="MinPoll"/> after a round in which some job finished, else half as long again, at most <see cref="MaxPoll"/>.</summary>
    internal static TimeSpan NextPoll(TimeSpan current, bool progressed) =>
        progressed ? MinPoll : TimeSpan.FromTicks(Math.Min(MaxPoll.Ticks, current.Ticks * 3 / 2));
}
