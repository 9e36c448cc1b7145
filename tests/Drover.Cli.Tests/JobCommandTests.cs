using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Drover.Cli.Commands;
using Drover.TestUtilities;
using Microsoft.AspNetCore.Http;

namespace Drover.Cli.Tests;

/// <summary>`drover send`, `jobs`, `job`, `result` and `cancel` as real child processes against a stub of the
/// hub's HTTP API: the requests they make, how they read the answers, and their exit codes.</summary>
public sealed class JobCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-cli-jobs-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static string JobJson(string id, string state, string? agent = null, int attempt = 0, int? exitCode = null, string? stdout = null, string? outcome = null, string? deadReason = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["id"] = id, ["state"] = state, ["name"] = "a.txt", ["size"] = 3, ["sha256"] = "00", ["target"] = "random", ["args"] = "",
            ["priority"] = 0, ["timeoutMs"] = 300000, ["retries"] = 2, ["attempt"] = attempt, ["agent"] = agent,
            ["submittedAt"] = "2026-11-26T07:00:00Z", ["finishedAt"] = null, ["deadReason"] = deadReason, ["outcome"] = outcome,
            ["exitCode"] = exitCode, ["durationMs"] = exitCode is null ? null : 12, ["stdout"] = stdout, ["stderr"] = null,
        });

    private static string SubmitJson(params (string Id, string Name, int Size)[] jobs) =>
        "{\"jobs\":[" + string.Join(',', jobs.Select(j => $"{{\"id\":\"{j.Id}\",\"name\":\"{j.Name}\",\"size\":{j.Size},\"sha256\":\"ab\"}}")) + "]}";

    [Fact]
    public async Task Send_of_one_file_posts_its_raw_bytes_with_its_name_and_the_flags_as_query_parameters()
    {
        await using var hub = await StubHub.StartAsync((r, c) => StubHub.Json(c, 201, SubmitJson(("j-1", "a b.txt", 5))));
        var file = WriteFile("a b.txt", "hello");

        var (exit, output, error) = await DroverProcess.RunAsync("send", file, "--api", hub.Api, "--to", "label:gpu=yes", "--args", "-v --fast", "--timeout", "90s", "--retries", "1", "--priority", "5");

        Assert.True(exit == 0, $"send exited {exit}: {error}");
        Assert.Contains("j-1", output, StringComparison.Ordinal);
        var request = Assert.Single(hub.Requests);
        Assert.Equal(("POST", "/api/jobs"), (request.Method, request.Path));
        Assert.Equal("a b.txt", request.Query["name"]);
        Assert.Equal("label:gpu=yes", request.Query["to"]);
        Assert.Equal("-v --fast", request.Query["args"]);
        Assert.Equal("90000ms", request.Query["timeout"]);
        Assert.Equal("1", request.Query["retries"]);
        Assert.Equal("5", request.Query["priority"]);
        Assert.Equal("application/octet-stream", request.ContentType);
        Assert.Equal("hello", Encoding.UTF8.GetString(request.Body));
    }

    [Fact]
    public async Task Send_leaves_unset_flags_to_the_hub_and_prints_json_lines()
    {
        await using var hub = await StubHub.StartAsync((r, c) => StubHub.Json(c, 201, SubmitJson(("j-1", "a.txt", 1))));
        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--json", "--api", hub.Api);

        Assert.True(exit == 0, $"send exited {exit}: {error}");
        Assert.Equal(["name"], Assert.Single(hub.Requests).Query.Keys);
        var job = JsonDocument.Parse(output).RootElement;
        Assert.Equal("j-1", job.GetProperty("id").GetString());
        Assert.Equal(1, job.GetProperty("size").GetInt64());
    }

    [Fact]
    public async Task Send_of_several_files_makes_one_multipart_request_with_one_part_per_file()
    {
        await using var hub = await StubHub.StartAsync((r, c) => StubHub.Json(c, 201, SubmitJson(r.Parts.Select((p, i) => ($"j-{i}", p.FileName!, p.Content.Length)).ToArray())));
        var files = Enumerable.Range(0, 3).Select(i => WriteFile($"f{i}.csv", new string((char)('a' + i), 10 + i))).ToArray();

        var (exit, output, error) = await DroverProcess.RunAsync(["send", .. files, "--retries", "0", "--api", hub.Api]);

        Assert.True(exit == 0, $"send exited {exit}: {error}");
        var request = Assert.Single(hub.Requests);
        Assert.StartsWith("multipart/form-data", request.ContentType, StringComparison.Ordinal);
        Assert.False(request.Query.ContainsKey("name"));
        Assert.Equal("0", request.Query["retries"]);
        Assert.Equal(["f0.csv", "f1.csv", "f2.csv"], request.Parts.Select(p => p.FileName));
        Assert.Equal(["aaaaaaaaaa", "bbbbbbbbbbb", "cccccccccccc"], request.Parts.Select(p => Encoding.UTF8.GetString(p.Content)));
        Assert.Equal(3, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Send_wait_polls_each_job_until_it_is_final_prints_it_and_exits_1_when_one_is_dead()
    {
        var polls = new ConcurrentDictionary<string, int>();
        await using var hub = await StubHub.StartAsync((r, c) =>
        {
            if (r.Method == "POST")
            {
                return StubHub.Json(c, 201, SubmitJson(("j-ok", "a.txt", 1), ("j-bad", "b.txt", 1)));
            }

            var id = r.Path["/api/jobs/".Length..];
            var n = polls.AddOrUpdate(id, 1, (_, v) => v + 1);
            return StubHub.Json(c, 200, (id, n) switch
            {
                ("j-ok", >= 2) => JobJson(id, "done", "a1", 1, 0, "42 input\n", "completed"),
                ("j-bad", >= 4) => JobJson(id, "dead", "a2", 3, 1, null, "completed", "exit code 1"),
                _ => JobJson(id, n == 1 ? "queued" : "running", n == 1 ? null : "a1", n == 1 ? 0 : 1),
            });
        });

        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), WriteFile("b.txt", "y"), "--wait", "--json", "--api", hub.Api);

        Assert.True(exit == 1, $"send --wait exited {exit}: {error}");
        var jobs = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["j-ok", "j-bad"], jobs.Select(j => j.GetProperty("id").GetString()));
        Assert.Equal("done", jobs[0].GetProperty("state").GetString());
        Assert.Equal(0, jobs[0].GetProperty("exitCode").GetInt32());
        Assert.Equal("42 input\n", jobs[0].GetProperty("stdout").GetString());
        Assert.Equal(12, jobs[0].GetProperty("durationMs").GetInt64());
        Assert.Equal("a1", jobs[0].GetProperty("agent").GetString());
        Assert.Equal(1, jobs[0].GetProperty("attempt").GetInt32());
        Assert.Equal("dead", jobs[1].GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, jobs[1].GetProperty("stderr").ValueKind);
        Assert.Equal(2, polls["j-ok"]);
        Assert.Equal(4, polls["j-bad"]);
        Assert.Contains("j-ok", error, StringComparison.Ordinal); // the ids go to stderr as soon as they are known
    }

    [Fact]
    public async Task Send_wait_prints_a_line_and_the_stdout_tail_and_exits_0_when_all_are_done()
    {
        await using var hub = await StubHub.StartAsync((r, c) => r.Method == "POST"
            ? StubHub.Json(c, 201, SubmitJson(("j-1", "a.txt", 1)))
            : StubHub.Json(c, 200, JobJson("j-1", "done", "w1", 1, 0, "6 input\n", "completed")));

        var (exit, output, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--wait", "--api", hub.Api);

        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        Assert.Matches(@"j-1\s+done\s+a\.txt\s+agent w1\s+attempt 1\s+exit 0\s+12 ms", output);
        Assert.Contains("stdout: 6 input", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_queue_is_reported_with_its_retry_after_and_exit_3()
    {
        await using var hub = await StubHub.StartAsync((r, c) =>
        {
            c.Response.Headers.RetryAfter = "7";
            return StubHub.Json(c, 503, """{"error":"queue is full"}""");
        });

        var (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--api", hub.Api);

        Assert.Equal(3, exit);
        Assert.Contains("hub queue is full; retry after 7 s", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_hubs_error_text_is_printed_and_the_exit_code_is_3()
    {
        await using var hub = await StubHub.StartAsync((r, c) => StubHub.Json(c, 413, """{"error":"a.txt is 2000000 bytes; the limit is 1048576"}"""));

        var (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("a.txt", "x"), "--api", hub.Api);

        Assert.Equal(3, exit);
        Assert.Contains("413", error, StringComparison.Ordinal);
        Assert.Contains("a.txt is 2000000 bytes; the limit is 1048576", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jobs_follows_the_next_cursor_up_to_the_limit()
    {
        await using var hub = await StubHub.StartAsync((r, c) =>
        {
            var after = int.Parse(r.Query["after"].FirstOrDefault() ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            var limit = int.Parse(r.Query["limit"]!, System.Globalization.CultureInfo.InvariantCulture);
            var count = Math.Min(2, limit);
            var items = Enumerable.Range(after + 1, count).Select(i => JobJson($"j-{i}", "done", "a1", 1, 0));
            return StubHub.Json(c, 200, $"{{\"items\":[{string.Join(',', items)}],\"next\":\"{after + count}\"}}");
        });

        var (exit, output, error) = await DroverProcess.RunAsync("jobs", "--state", "done", "--agent", "a1", "--limit", "5", "--json", "--api", hub.Api);

        Assert.True(exit == 0, $"jobs exited {exit}: {error}");
        var ids = JsonDocument.Parse(output).RootElement.EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToArray();
        Assert.Equal(["j-1", "j-2", "j-3", "j-4", "j-5"], ids);
        Assert.All(hub.Requests, r => Assert.Equal(("done", "a1"), (r.Query["state"].ToString(), r.Query["agent"].ToString())));
        Assert.Equal(["5", "3", "1"], hub.Requests.Select(r => r.Query["limit"].ToString()));

        (exit, output, error) = await DroverProcess.RunAsync("jobs", "--limit", "3", "--api", hub.Api);
        Assert.True(exit == 0, $"jobs exited {exit}: {error}");
        Assert.Contains("j-3", output, StringComparison.Ordinal);
        Assert.Contains("3 jobs (more", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Job_prints_one_job_and_an_unknown_one_is_the_hubs_404()
    {
        await using var hub = await StubHub.StartAsync((r, c) => r.Path == "/api/jobs/j-1"
            ? StubHub.Json(c, 200, JobJson("j-1", "running", "a1", 1))
            : StubHub.Json(c, 404, """{"error":"no job j-2"}"""));

        var (exit, output, error) = await DroverProcess.RunAsync("job", "j-1", "--json", "--api", hub.Api);
        Assert.True(exit == 0, $"job exited {exit}: {error}");
        Assert.Equal("running", JsonDocument.Parse(output).RootElement.GetProperty("state").GetString());

        (exit, output, _) = await DroverProcess.RunAsync("job", "j-1", "--api", hub.Api);
        Assert.Equal(0, exit);
        Assert.Matches(@"state:\s+running", output);

        (exit, _, error) = await DroverProcess.RunAsync("job", "j-2", "--api", hub.Api);
        Assert.Equal(3, exit);
        Assert.Contains("no job j-2", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Result_prints_the_result_and_o_writes_the_out_file_only_when_there_is_one()
    {
        var outBytes = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        await using var hub = await StubHub.StartAsync((r, c) =>
        {
            switch (r.Path)
            {
                case "/api/jobs/j-1/result" or "/api/jobs/j-2/result":
                    return StubHub.Json(c, 200, $$"""{"jobId":"{{r.Path[10..13]}}","attempt":2,"agent":"a1","outcome":"completed","exitCode":0,"durationMs":31,"stdout":"line1\nline2\n","stderr":"warn\n","outFileSize":100000,"error":null,"recordedAt":"2026-11-26T07:00:00Z"}""");
                case "/api/jobs/j-1/result/out":
                    c.Response.ContentType = "application/octet-stream";
                    return c.Response.Body.WriteAsync(outBytes).AsTask();
                default:
                    return StubHub.Json(c, 404, """{"error":"no out file"}""");
            }
        });
        var outPath = Path.Combine(_dir, "out.bin");

        var (exit, output, error) = await DroverProcess.RunAsync("result", "j-1", "-o", outPath, "--api", hub.Api);

        Assert.True(exit == 0, $"result exited {exit}: {error}");
        Assert.Matches(@"outcome:\s+completed", output);
        Assert.Matches(@"exit code:\s+0", output);
        Assert.Contains("    line2", output, StringComparison.Ordinal);
        Assert.Contains("stderr: warn", output, StringComparison.Ordinal);
        Assert.Equal(outBytes, await File.ReadAllBytesAsync(outPath));

        var missing = Path.Combine(_dir, "none.bin");
        (exit, _, error) = await DroverProcess.RunAsync("result", "j-2", "-o", missing, "--api", hub.Api);
        Assert.Equal(3, exit);
        Assert.Contains("no out file", error, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public async Task Cancel_deletes_the_job_and_a_finished_one_is_the_hubs_409()
    {
        await using var hub = await StubHub.StartAsync((r, c) => r.Path == "/api/jobs/j-1"
            ? StubHub.Json(c, 200, JobJson("j-1", "cancelled", "a1", 1))
            : StubHub.Json(c, 409, """{"error":"job j-2 is already done"}"""));

        var (exit, output, error) = await DroverProcess.RunAsync("cancel", "j-1", "--api", hub.Api);
        Assert.True(exit == 0, $"cancel exited {exit}: {error}");
        Assert.Contains("j-1  cancelled", output, StringComparison.Ordinal);
        Assert.Equal("DELETE", hub.Requests.Single().Method);

        (exit, _, error) = await DroverProcess.RunAsync("cancel", "j-2", "--api", hub.Api);
        Assert.Equal(3, exit);
        Assert.Contains("job j-2 is already done", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_over_16_MiB_is_refused_before_anything_is_sent()
    {
        await using var hub = await StubHub.StartAsync((r, c) => StubHub.Json(c, 201, SubmitJson(("j-1", "a", 1))));
        var big = Path.Combine(_dir, "big.bin");
        await using (var stream = File.Create(big))
        {
            stream.SetLength((16 * 1024 * 1024) + 1);
        }

        var (exit, _, error) = await DroverProcess.RunAsync("send", WriteFile("small.txt", "x"), big, "--api", hub.Api);

        Assert.Equal(2, exit);
        Assert.Contains("big.bin is 16,777,217 bytes", error, StringComparison.Ordinal);
        Assert.Empty(hub.Requests);
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
            Assert.True(CliParsing.TryParseTarget(good, out var target, out var error), error);
            Assert.Equal(good, target);
        }

        foreach (var bad in new[] { "", "Random", "agent:", "agent:a b", "label:", "label:gpu", "label:=x", "host:x" })
        {
            Assert.False(CliParsing.TryParseTarget(bad, out _, out var error));
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
}
