using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Drover.Agent;
using Drover.Cli.Commands;
using Drover.Hub;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>`drover send`, `jobs`, `job`, `result` and `cancel` as real child processes against a real hub in this
/// process (<see cref="HubFixture"/>: real sockets, real SQLite), with in-process agents where jobs must run: the
/// requests they make as the hub reads them, how they print the answers, the hub's refusals, and their exit codes.
/// JobsEndToEndTests covers the same commands with `drover serve` and `drover agent --handler` processes.</summary>
public sealed partial class JobCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-cli-jobs-").FullName;
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>xunit v2 calls <see cref="IAsyncLifetime.DisposeAsync"/> (not IAsyncDisposable) on test classes.</summary>
    public async Task DisposeAsync()
    {
        // Agents first, then the hub.
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    [GeneratedRegex("j-[0-9A-Z]{26}")]
    private static partial Regex JobId();

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private async Task<(HubFixture Hub, string Api)> StartHubAsync(Func<HubOptions, HubOptions>? configure = null)
    {
        var hub = await HubFixture.StartAsync(configure);
        _owned.Add(hub);
        return (hub, hub.ApiUrl.ToString());
    }

    /// <summary>An agent in this process with one job slot, running <paramref name="handler"/>; returns once it is connected.</summary>
    private async Task StartAgentAsync(HubFixture hub, string id, Func<JobContext, ValueTask<JobHandlerResult>> handler)
    {
        var agent = new DroverAgent(new AgentOptions
        {
            Hubs = [$"127.0.0.1:{hub.AgentEndPoint.Port}"],
            AgentId = id,
            Trust = HubTrust.Insecure, // the test hub is plain TCP
            IncludeSystemMetrics = false,
            JobHandler = new DelegateHandler(handler),
            JobSlots = 1,
            WorkDirectory = Path.Combine(_dir, "work-" + id),
        });
        _owned.Add(agent);
        _ = agent.RunAsync(CancellationToken.None);
        await HubFixture.WaitUntilAsync(() => agent.ConnectionState == AgentConnectionState.Connected, because: $"{id} connects");
    }

    private static async Task<JsonElement> JobAsync(string api, string id)
    {
        var (exit, output, error) = await DroverProcess.RunAsync("job", id, "--json", "--api", api);
        Assert.True(exit == 0, $"job {id} exited {exit}: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static async Task<JsonElement[]> ListAsync(string api, params string[] args)
    {
        var (exit, output, error) = await DroverProcess.RunAsync(["jobs", "--json", "--api", api, .. args]);
        Assert.True(exit == 0, $"jobs exited {exit}: {error}");
        return JsonDocument.Parse(output).RootElement.EnumerateArray().Select(j => j.Clone()).ToArray();
    }

    [Fact]
    public async Task Send_to_an_agent_never_seen_warns_at_submit_says_what_it_waits_for_and_ends_when_the_job_expires()
    {
        var (_, api) = await StartHubAsync();

        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("g.txt", "x"), "--to", "agent:ghost", "--timeout", "300ms", "--wait", "--api", api);

        Assert.Equal(1, exit); // dead: the agent never came
        Assert.Contains("warning: agent 'ghost' has never connected to this hub; the jobs wait for it, and end dead if it does not connect within their timeout (300ms)", error, StringComparison.Ordinal);
        Assert.Contains("waiting for the job on agent ghost", error, StringComparison.Ordinal);
        Assert.Contains("dead", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jobs_wait_waits_for_the_listed_open_jobs_and_prints_each_as_it_ends()
    {
        var (_, api) = await StartHubAsync();
        // Its timeout must outlast the start of the next drover process on a loaded machine, so that it is still queued when listed.
        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("w.txt", "x"), "--to", "agent:ghost", "--timeout", "6s", "--json", "--api", api);
        Assert.True(exit == 0, $"send exited {exit}: {error}");
        var id = JsonDocument.Parse(output).RootElement.GetProperty("id").GetString()!;

        (exit, output, error) = await DroverProcess.RunAsync("jobs", "--state", "queued", "--wait", "--api", api);

        Assert.Equal(1, exit); // it ended dead: its agent never came within its timeout
        Assert.Contains("waiting for 1 job", error, StringComparison.Ordinal);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains(id, StringComparison.Ordinal) && l.Contains("queued", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(id, StringComparison.Ordinal) && l.Contains("dead", StringComparison.Ordinal));

        // Nothing open: --wait returns at once.
        (exit, _, error) = await DroverProcess.RunAsync("jobs", "--state", "queued", "--wait", "--api", api);
        Assert.True(exit == 0, $"jobs --wait with nothing open exited {exit}: {error}");
    }

    [Fact]
    public async Task Send_to_a_label_gives_no_warning()
    {
        var (_, api) = await StartHubAsync();

        var (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("l.txt", "x"), "--to", "label:gpu=yes", "--api", api);

        Assert.Equal(0, exit);
        Assert.DoesNotContain("warning", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_carries_the_name_bytes_and_flags_of_one_file_and_unset_flags_take_the_hubs_defaults()
    {
        var (_, api) = await StartHubAsync(); // no agent: the jobs stay queued

        var (exit, output, error) = await DroverProcess.RunAsync(
            "send", WriteFile("a b.txt", "hello"), "--api", api, "--to", "label:gpu=yes", "--args", "-v --fast", "--timeout", "90s", "--retries", "1", "--priority", "5");
        Assert.True(exit == 0, $"send exited {exit}: {error}");
        Assert.Matches(@"j-\S+\s+queued\s+a b\.txt\s+5 bytes", output);
        var flagged = await JobAsync(api, JobId().Match(output).Value);
        Assert.Equal("queued", flagged.GetProperty("state").GetString());
        Assert.Equal("a b.txt", flagged.GetProperty("name").GetString());
        Assert.Equal(5, flagged.GetProperty("size").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("hello"u8)), flagged.GetProperty("sha256").GetString()!.ToLowerInvariant());
        Assert.Equal("label:gpu=yes", flagged.GetProperty("target").GetString());
        Assert.Equal("-v --fast", flagged.GetProperty("args").GetString());
        Assert.Equal(90_000, flagged.GetProperty("timeoutMs").GetInt64());
        Assert.Equal(1, flagged.GetProperty("retries").GetInt32());
        Assert.Equal(5, flagged.GetProperty("priority").GetInt32());
        Assert.Equal(0, flagged.GetProperty("attempt").GetInt32());
        Assert.Equal(JsonValueKind.Null, flagged.GetProperty("agent").ValueKind);

        (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--json", "--api", api);
        Assert.True(exit == 0, $"send exited {exit}: {error}");
        var sent = JsonDocument.Parse(output).RootElement;
        Assert.Equal(1, sent.GetProperty("size").GetInt64());
        Assert.Equal("a.txt", sent.GetProperty("name").GetString());
        var plain = await JobAsync(api, sent.GetProperty("id").GetString()!);
        Assert.Equal(("random", "", 300_000L, 2, 0), (plain.GetProperty("target").GetString(), plain.GetProperty("args").GetString(),
            plain.GetProperty("timeoutMs").GetInt64(), plain.GetProperty("retries").GetInt32(), plain.GetProperty("priority").GetInt32()));

        (exit, output, _) = await DroverProcess.RunAsync("job", plain.GetProperty("id").GetString()!, "--api", api);
        Assert.Equal(0, exit);
        Assert.Matches(@"state:\s+queued", output);
        Assert.Matches(@"target:\s+random", output);

        (exit, _, error) = await DroverProcess.RunAsync("job", "j-00000000000000000000000000", "--api", api);
        Assert.Equal(3, exit);
        Assert.Contains("404", error, StringComparison.Ordinal);
        Assert.Contains("no job 'j-00000000000000000000000000'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_wait_prints_the_result_line_result_prints_the_tails_and_a_done_job_cannot_be_cancelled()
    {
        var (hub, api) = await StartHubAsync();
        await StartAgentAsync(hub, "cli-agent", async job =>
        {
            if (job.Args == "out")
            {
                await File.WriteAllBytesAsync(job.OutPath, Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray());
            }

            return new JobHandlerResult(0) { StdoutTail = "42 input\nline2\n"u8.ToArray(), StderrTail = "warn\n"u8.ToArray() };
        });

        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("one.txt", "x"), "--args", "out", "--wait", "--api", api);
        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        Assert.Matches(@"j-\S+\s+done\s+one\.txt\s+agent cli-agent\s+attempt 1\s+exit 0\s+\d+ ms", output);
        Assert.Contains("  stdout:\n    42 input\n    line2\n  stderr: warn", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        var withOut = JobId().Match(output).Value;
        Assert.Contains(withOut, error, StringComparison.Ordinal); // the ids go to stderr as soon as they are known

        var outPath = Path.Combine(_dir, "out.bin");
        (exit, output, error) = await DroverProcess.RunAsync("result", withOut, "-o", outPath, "--api", api);
        Assert.True(exit == 0, $"result exited {exit}: {error}");
        Assert.Matches(@"outcome:\s+completed", output);
        Assert.Matches(@"exit code:\s+0", output);
        Assert.Matches(@"agent:\s+cli-agent", output);
        Assert.Matches(@"out file:\s+100000 bytes", output);
        Assert.Contains("    line2", output, StringComparison.Ordinal);
        Assert.Contains("stderr: warn", output, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray(), await File.ReadAllBytesAsync(outPath));

        (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("two.txt", "y"), "--wait", "--json", "--api", api);
        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        var withoutOut = JsonDocument.Parse(output).RootElement.GetProperty("id").GetString()!;
        var missing = Path.Combine(_dir, "none.bin");
        (exit, _, error) = await DroverProcess.RunAsync("result", withoutOut, "-o", missing, "--api", api);
        Assert.Equal(3, exit);
        Assert.Contains("404", error, StringComparison.Ordinal);
        Assert.Contains("no out file", error, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));

        (exit, _, error) = await DroverProcess.RunAsync("cancel", withoutOut, "--api", api);
        Assert.Equal(3, exit);
        Assert.Contains("409", error, StringComparison.Ordinal);
        Assert.Contains($"job '{withoutOut}' is already done", error, StringComparison.Ordinal);
        Assert.Equal("done", (await JobAsync(api, withoutOut)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task The_hubs_refusals_413_and_503_with_retry_after_are_exit_3_and_a_file_over_16_MiB_is_never_sent()
    {
        // No agent: the one job the queue holds stays in it.
        var (_, api) = await StartHubAsync(o => o with { MaxQueuedJobs = 1, MaxFileSize = 1024, MaxQueuedBytes = 1024 * 1024 });

        var (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("wide.csv", new string('x', 2000)), "--api", api);
        Assert.Equal(3, exit);
        Assert.Contains("413", error, StringComparison.Ordinal);
        Assert.Contains("file 'wide.csv' is over the limit of 1 KiB (1024 bytes)", error, StringComparison.Ordinal);

        (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--api", api);
        Assert.True(exit == 0, $"send exited {exit}: {error}");

        (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("b.txt", "y"), "--api", api);
        Assert.Equal(3, exit);
        Assert.Matches(@"hub queue is full; retry after \d+ s", error);

        var big = Path.Combine(_dir, "big.bin");
        await using (var stream = File.Create(big))
        {
            stream.SetLength((16 * 1024 * 1024) + 1);
        }

        (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("small.txt", "x"), big, "--api", api);
        Assert.Equal(2, exit);
        Assert.Contains("big.bin is 16,777,217 bytes", error, StringComparison.Ordinal);

        // Nothing of a refused request was accepted.
        Assert.Equal(["a.txt"], (await ListAsync(api)).Select(j => j.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Jobs_follows_the_hubs_pages_up_to_the_limit()
    {
        var (hub, api) = await StartHubAsync();
        using var http = hub.CreateApiClient();
        using var files = new MultipartFormDataContent();
        for (var i = 0; i < 1205; i++)
        {
            var part = new ByteArrayContent(Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            files.Add(part, "file", $"f{i}.txt");
        }

        using var answer = await http.PostAsync(new Uri("api/jobs", UriKind.Relative), files);
        Assert.Equal(System.Net.HttpStatusCode.Created, answer.StatusCode);
        var submitted = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")
            .EnumerateArray().Select(j => j.GetProperty("id").GetString()!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(1205, submitted.Length);

        // One page holds at most 1,000: 1,203 takes a second page after the first one's cursor.
        var listed = await ListAsync(api, "--state", "queued", "--limit", "1203");
        Assert.Equal(submitted[..1203], listed.Select(j => j.GetProperty("id").GetString()!));
        Assert.Empty(await ListAsync(api, "--state", "done"));

        var (exit, output, error) = await DroverProcess.RunAsync("jobs", "--limit", "3", "--api", api);
        Assert.True(exit == 0, $"jobs exited {exit}: {error}");
        Assert.Contains("3 jobs (more", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("send")]
    [InlineData("send", "/no/such/file.txt")]
    [InlineData("send", "/tmp")]
    [InlineData("send", "FILE", "--to", "somewhere")]
    [InlineData("send", "FILE", "--to", "agent:")]
    [InlineData("send", "FILE", "--to", "label:=v")]
    [InlineData("send", "FILE", "--timeout", "soon")]
    [InlineData("send", "FILE", "--timeout", "0s")]
    [InlineData("send", "FILE", "--retries", "-1")]
    [InlineData("send", "FILE", "--retries", "many")]
    [InlineData("send", "FILE", "--api", "ftp://example")]
    [InlineData("jobs", "--state", "finished")]
    [InlineData("jobs", "--limit", "0")]
    [InlineData("job")]
    [InlineData("result")]
    [InlineData("cancel")]
    public async Task Wrong_job_flags_get_a_clear_message_and_exit_2(params string[] args)
    {
        var file = WriteFile("data.csv", "1,2\n");
        // A hub that is not there: a check that failed to fire would show as exit 3, not 2.
        string[] api = args.Contains("--api") ? [] : ["--api", "http://127.0.0.1:9"];
        var (exit, output, error) = await DroverProcess.RunAsync([.. args.Select(a => a == "FILE" ? file : a), .. api]);
        Assert.True(exit == 2, $"exit {exit}; stderr: {error}; stdout: {output}");
        Assert.False(string.IsNullOrWhiteSpace(error), $"no message on stderr; stdout: {output}");
        Assert.DoesNotContain("Unhandled exception", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("send", "FILE")]
    [InlineData("send", "FILE", "FILE", "--wait")]
    [InlineData("jobs")]
    [InlineData("job", "j-1")]
    [InlineData("result", "j-1")]
    [InlineData("cancel", "j-1")]
    public async Task An_unreachable_hub_is_exit_3_with_a_clear_message(params string[] args)
    {
        var file = WriteFile("data.csv", "1,2\n");
        var (exit, _, error) = await DroverProcess.RunAsync([.. args.Select(a => a == "FILE" ? file : a), "--api", "http://127.0.0.1:9"]);
        Assert.Equal(3, exit);
        Assert.Contains("cannot reach the hub API at http://127.0.0.1:9/", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Targets_parse_like_the_hub_expects_them()
    {
        foreach (var good in new[] { "random", "least-loaded", "agent:web-17", "label:gpu=yes", "label:zone=" })
        {
            Assert.True(Protocol.JobTarget.TryParse(good, out var target, out var error), error);
            Assert.Equal(good, target.ToString());
        }

        foreach (var bad in new[] { "", "Random", "agent:", "agent:a b", "label:", "label:gpu", "label:=x", "host:x" })
        {
            Assert.False(Protocol.JobTarget.TryParse(bad, out _, out var error));
            Assert.False(string.IsNullOrEmpty(error));
        }
    }

    [Fact]
    public void Wait_polls_every_200_ms_backing_off_to_1_s_and_back_after_progress()
    {
        var delay = SendCommand.MinPoll;
        var seen = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            delay = SendCommand.NextPoll(delay, progressed: false);
            seen.Add(delay.TotalMilliseconds);
        }

        Assert.Equal([300, 450, 675, 1000, 1000, 1000], seen);
        Assert.Equal(SendCommand.MinPoll, SendCommand.NextPoll(TimeSpan.FromSeconds(1), progressed: true));
    }

    private sealed class DelegateHandler(Func<JobContext, ValueTask<JobHandlerResult>> run) : IJobHandler
    {
        public ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken) => run(job);
    }
}
