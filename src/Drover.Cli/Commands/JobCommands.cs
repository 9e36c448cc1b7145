using Drover.Api;
using System.CommandLine;
using System.Text.Json;
using Drover.Cli.Jobs;
using Drover.Storage;

namespace Drover.Cli.Commands;

/// <summary><c>drover jobs</c>, <c>drover job ID</c>, <c>drover result ID</c> and <c>drover cancel ID</c>: reading
/// and cancelling jobs through the hub's HTTP API. Exit codes: 0 done, 2 wrong flags, 3 the hub could not be
/// reached or answered an error (an unknown job, no result yet, a job already finished, ...).</summary>
internal static class JobCommands
{
    private static readonly string[] States = [JobStates.Queued, JobStates.Running, JobStates.Done, JobStates.Dead, JobStates.Cancelled];

    /// <summary><c>drover jobs</c>: a table (or JSON array) of jobs, oldest first, following the hub's pages up to --limit.</summary>
    public static Command CreateList()
    {
        var state = new Option<string?>("--state") { Description = "Only jobs in this state: " + string.Join(", ", States) };
        var agent = new Option<string?>("--agent") { Description = "Only jobs placed on this agent" };
        var limit = new Option<int>("--limit") { Description = "Show at most this many jobs", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array instead of a table" };
        var wait = new Option<bool>("--wait")
        {
            Description = "Then wait until every listed job that is queued or running is done, dead or cancelled, printing each as it ends (exit 1 if any ends dead or cancelled)",
        };
        var api = new ApiAccess();

        var command = new Command("jobs", "List jobs with their state, agent, exit code and duration, oldest first") { state, agent, limit, json, wait };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var stateValue = parse.GetValue(state);
            if (stateValue is not null && !States.Contains(stateValue))
            {
                return CliParsing.Fail($"--state: '{stateValue}' is not one of {string.Join(", ", States)}");
            }

            var max = parse.GetValue(limit);
            if (max < 1)
            {
                return CliParsing.Fail("--limit must be 1 or more");
            }

            return await HubApiClient.RunAsync(api, parse, async client =>
            {
                var jobs = new List<JobView>();
                string? after = null;
                do
                {
                    var page = await client.ListJobsAsync(stateValue, parse.GetValue(agent), Math.Min(1000, max - jobs.Count), after, cancellationToken);
                    jobs.AddRange(page.Items.Take(max - jobs.Count));
                    after = page.Items.Count == 0 ? null : page.Next;
                }
                while (after is not null && jobs.Count < max);

                if (parse.GetValue(json))
                {
                    await Console.Out.WriteLineAsync(JsonSerializer.Serialize(jobs, ApiJsonContext.Default.ListJobView));
                }
                else
                {
                    JobOutput.WriteTable(jobs, more: after is not null);
                }

                // --wait: the listed jobs still open, polled as send --wait polls its own (with progress on a terminal).
                var open = jobs.Where(j => !JobStates.IsFinal(j.State)).Select(j => new SubmittedJob(j.Id, j.Name, j.Size, j.Sha256)).ToList();
                if (!parse.GetValue(wait) || open.Count == 0)
                {
                    return ExitCodes.Ok;
                }

                await Console.Error.WriteLineAsync($"waiting for {(open.Count == 1 ? "1 job" : $"{open.Count:N0} jobs")} (Ctrl-C stops waiting; the jobs go on)");
                return await CliProgress.RunAsync(progress => SendCommand.WaitAsync(client, open, parse.GetValue(json), TimeProvider.System, cancellationToken, progress));
            });
        });
        return command;
    }

    /// <summary><c>drover job ID</c>: every field of one job.</summary>
    public static Command CreateShow()
    {
        var id = new Argument<string>("ID") { Description = "The job id (j-...)" };
        var json = new Option<bool>("--json") { Description = "Print the job as a JSON object" };
        var api = new ApiAccess();

        var command = new Command("job", "Show one job: state, placement, attempts, and its latest result") { id, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var job = await client.GetJobAsync(parse.GetValue(id)!, cancellationToken);
            if (parse.GetValue(json))
            {
                JobOutput.WriteJson(job);
            }
            else
            {
                JobOutput.WriteJobDetail(job);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary><c>drover result ID [-o FILE]</c>: the outcome, exit code and output tails of a job's result,
    /// and with -o its out file.</summary>
    public static Command CreateResult()
    {
        var id = new Argument<string>("ID") { Description = "The job id (j-...)" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the out file the handler wrote ({out}) to this file" };
        var json = new Option<bool>("--json") { Description = "Print the result as a JSON object" };
        var api = new ApiAccess();

        var command = new Command("result", "Show a job's result: outcome, exit code, duration, stdout and stderr tails; -o saves its out file") { id, output, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var outPath = parse.GetValue(output);
            if (outPath is not null && Directory.Exists(outPath))
            {
                return CliParsing.Fail($"-o: {outPath} is a directory; give a file name");
            }

            return await HubApiClient.RunAsync(api, parse, async client =>
            {
                var jobId = parse.GetValue(id)!;
                var result = await client.GetResultAsync(jobId, cancellationToken);
                var printJson = parse.GetValue(json);
                if (printJson)
                {
                    await Console.Out.WriteLineAsync(JsonSerializer.Serialize(result, ApiJsonContext.Default.ResultView));
                }
                else
                {
                    JobOutput.WriteResult(result);
                }

                if (outPath is not null)
                {
                    var bytes = await client.DownloadOutFileAsync(jobId, outPath, cancellationToken);
                    await (printJson ? Console.Error : Console.Out).WriteLineAsync($"wrote the out file of {jobId} to {outPath} ({bytes} bytes)");
                }

                return ExitCodes.Ok;
            });
        });
        return command;
    }

    /// <summary><c>drover cancel ID</c>: cancels a queued or running job.</summary>
    public static Command CreateCancel()
    {
        var id = new Argument<string>("ID") { Description = "The job id (j-...)" };
        var api = new ApiAccess();

        var command = new Command("cancel", "Cancel a queued or running job (a running one is killed on its agent)") { id };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var job = await client.CancelAsync(parse.GetValue(id)!, cancellationToken);
            await Console.Out.WriteLineAsync($"{job.Id}  {job.State}{(job.Agent is { } agent ? $"  (agent {agent})" : string.Empty)}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
