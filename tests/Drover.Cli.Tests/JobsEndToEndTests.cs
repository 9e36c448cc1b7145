using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>Jobs from end to end: `drover serve`, `drover agent --handler ...` and the job commands as real
/// child processes on 127.0.0.1. The handlers are `sh -c '...'` scripts reading the DROVER_* variables.</summary>
public sealed class JobsEndToEndTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-e2e-jobs-").FullName;
    private readonly List<DroverProcess> _processes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>xunit v2 calls <see cref="IAsyncLifetime.DisposeAsync"/> (not IAsyncDisposable) on test classes.</summary>
    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    /// <summary>An operator command against the fleet's hub: its https:// API trusted by the hub's CA file (DROVER_CA).</summary>
    private Task<(int ExitCode, string Output, string Error)> RunCliAsync(params string[] args) =>
        DroverProcess.RunInAsync(null, new Dictionary<string, string> { ["DROVER_CA"] = Path.Combine(_dir, "hub", "tls", "ca.pem") }, args);

    /// <summary>A hub and <paramref name="agents"/> agents (one job slot each) running <paramref name="handler"/>; returns the API URL.</summary>
    private async Task<string> StartFleetAsync(string handler, int agents = 1)
    {
        var serve = DroverProcess.Start("serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Path.Combine(_dir, "hub"), "--interval", "2s", "--token", "t0k");
        _processes.Add(serve);
        var listening = await serve.WaitForLineAsync(EndToEndTests.ServeListening);
        var hub = $"127.0.0.1:{listening.Groups[1].Value}";
        for (var i = 1; i <= agents; i++)
        {
            var agent = DroverProcess.Start(
                "agent", "--hub", hub, "--ca", Path.Combine(_dir, "hub", "tls", "ca.pem"), "--id", $"worker-{i}", "--token", "t0k", "--slots", "1",
                "--workdir", Path.Combine(_dir, $"work-{i}"), "--handler", handler);
            _processes.Add(agent);
            await agent.WaitForLineAsync($"worker-{i} connected to");
        }

        return listening.Groups[2].Value;
    }

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private async Task<(int Exit, JsonElement[] Lines, string Error)> RunJsonLinesAsync(params string[] args)
    {
        var (exit, output, error) = await RunCliAsync(args);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        return (exit, lines, error);
    }

    private async Task<JsonElement> JobAsync(string api, string id)
    {
        var (exit, lines, error) = await RunJsonLinesAsync("job", id, "--json", "--api", api);
        Assert.True(exit == 0, $"job {id} exited {exit}: {error}");
        return Assert.Single(lines);
    }

    [Fact]
    public async Task Jobs_several_files_in_one_send_all_end_done_across_agents()
    {
        var api = await StartFleetAsync("""sh -c 'wc -c < "$DROVER_FILE"'""", agents: 2);
        var files = Enumerable.Range(1, 6).Select(i => WriteFile($"f{i}.txt", new string('x', i * 10))).ToArray();

        var (exit, lines, error) = await RunJsonLinesAsync(["send", .. files, "--wait", "--json", "--api", api]);

        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        Assert.Equal(6, lines.Length);
        Assert.All(lines, j =>
        {
            Assert.StartsWith("j-", j.GetProperty("id").GetString(), StringComparison.Ordinal);
            Assert.Equal("done", j.GetProperty("state").GetString());
            Assert.True(j.GetProperty("agent").GetString() is "worker-1" or "worker-2", j.GetProperty("agent").GetString());
            Assert.Equal(1, j.GetProperty("attempt").GetInt32());
            Assert.Equal(0, j.GetProperty("exitCode").GetInt32());
            Assert.True(j.GetProperty("durationMs").GetInt64() >= 0);
        });
        Assert.Equal(
            Enumerable.Range(1, 6).Select(i => $"f{i}.txt={i * 10}").Order(),
            lines.Select(j => $"{j.GetProperty("name").GetString()}={j.GetProperty("stdout").GetString()!.Trim()}").Order());
    }

    [Fact]
    public async Task Jobs_lists_them_and_job_shows_every_documented_field()
    {
        var api = await StartFleetAsync("""sh -c 'echo "args=$DROVER_ARGS name=$DROVER_FILE_NAME"; echo warned >&2'""");
        var files = new[] { WriteFile("one.txt", "1"), WriteFile("two.txt", "22") };

        var (exit, sent, error) = await RunJsonLinesAsync(["send", .. files, "--args", "-n 5", "--timeout", "30s", "--retries", "1", "--priority", "3", "--to", "least-loaded", "--wait", "--json", "--api", api]);
        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        var ids = sent.Select(j => j.GetProperty("id").GetString()!).Order(StringComparer.Ordinal).ToArray();

        var (listExit, listOutput, listError) = await RunCliAsync("jobs", "--json", "--state", "done", "--api", api);
        Assert.True(listExit == 0, $"jobs exited {listExit}: {listError}");
        var listed = JsonDocument.Parse(listOutput).RootElement.EnumerateArray().ToArray();
        Assert.Equal(ids, listed.Select(j => j.GetProperty("id").GetString()!));
        var (agentExit, agentOutput, _) = await RunCliAsync("jobs", "--json", "--agent", "worker-1", "--limit", "1", "--api", api);
        Assert.Equal(0, agentExit);
        Assert.Equal(ids[0], Assert.Single(JsonDocument.Parse(agentOutput).RootElement.EnumerateArray().ToArray()).GetProperty("id").GetString());
        var (tableExit, table, _) = await RunCliAsync("jobs", "--api", api);
        Assert.Equal(0, tableExit);
        Assert.Contains("2 jobs", table, StringComparison.Ordinal);

        var job = await JobAsync(api, ids[1]);
        Assert.Equal(ids[1], job.GetProperty("id").GetString());
        Assert.Equal("done", job.GetProperty("state").GetString());
        Assert.Equal("two.txt", job.GetProperty("name").GetString());
        Assert.Equal(2, job.GetProperty("size").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("22"u8)), job.GetProperty("sha256").GetString()!.ToLowerInvariant());
        Assert.Equal("least-loaded", job.GetProperty("target").GetString());
        Assert.Equal("-n 5", job.GetProperty("args").GetString());
        Assert.Equal(3, job.GetProperty("priority").GetInt32());
        Assert.Equal(30_000, job.GetProperty("timeoutMs").GetInt64());
        Assert.Equal(1, job.GetProperty("retries").GetInt32());
        Assert.Equal(1, job.GetProperty("attempt").GetInt32());
        Assert.Equal("worker-1", job.GetProperty("agent").GetString());
        Assert.True(job.GetProperty("submittedAt").GetDateTimeOffset() <= job.GetProperty("finishedAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("deadReason").ValueKind);
        Assert.Equal("completed", job.GetProperty("outcome").GetString());
        Assert.Equal(0, job.GetProperty("exitCode").GetInt32());
        Assert.True(job.GetProperty("durationMs").GetInt64() >= 0);
        Assert.Equal("args=-n 5 name=two.txt", job.GetProperty("stdout").GetString()!.Trim());
        Assert.Equal("warned", job.GetProperty("stderr").GetString()!.Trim());
    }

    [Fact]
    public async Task Jobs_result_o_writes_the_out_file_the_handler_wrote()
    {
        var api = await StartFleetAsync("""sh -c 'tr a-z A-Z < "$DROVER_FILE" > "$DROVER_OUT"; echo converted'""");
        var (exit, lines, error) = await RunJsonLinesAsync("send", WriteFile("words.txt", "hello drover\n"), "--wait", "--json", "--api", api);
        Assert.True(exit == 0, $"send --wait exited {exit}: {error}");
        var id = Assert.Single(lines).GetProperty("id").GetString()!;
        var outPath = Path.Combine(_dir, "out.bin");

        var (resultExit, output, resultError) = await RunCliAsync("result", id, "-o", outPath, "--api", api);

        Assert.True(resultExit == 0, $"result exited {resultExit}: {resultError}");
        Assert.Matches(@"outcome:\s+completed", output);
        Assert.Matches(@"exit code:\s+0", output);
        Assert.Contains("stdout: converted", output, StringComparison.Ordinal);
        Assert.Equal("HELLO DROVER\n", await File.ReadAllTextAsync(outPath, Encoding.UTF8));
    }

    [Fact]
    public async Task Jobs_a_failing_handler_ends_dead_and_send_wait_prints_every_job_and_exits_1()
    {
        var api = await StartFleetAsync("""sh -c 'if [ "$DROVER_FILE_NAME" = bad.txt ]; then echo broken >&2; exit 3; fi; echo fine'""");

        var (exit, lines, error) = await RunJsonLinesAsync("send", WriteFile("bad.txt", "x"), WriteFile("good.txt", "y"), "--retries", "0", "--wait", "--json", "--api", api);

        Assert.True(exit == 1, $"send --wait exited {exit}: {error}");
        Assert.Equal(["bad.txt", "good.txt"], lines.Select(j => j.GetProperty("name").GetString()).Order());
        var dead = lines.Single(j => j.GetProperty("name").GetString() == "bad.txt");
        Assert.Equal("dead", dead.GetProperty("state").GetString());
        Assert.Equal(3, dead.GetProperty("exitCode").GetInt32());
        Assert.Equal("broken", dead.GetProperty("stderr").GetString()!.Trim());
        Assert.False(string.IsNullOrEmpty(dead.GetProperty("deadReason").GetString()));
        var done = lines.Single(j => j.GetProperty("name").GetString() == "good.txt");
        Assert.Equal("done", done.GetProperty("state").GetString());
        Assert.Equal("fine", done.GetProperty("stdout").GetString()!.Trim());
        Assert.All(lines, j => Assert.Contains(j.GetProperty("id").GetString()!, error, StringComparison.Ordinal)); // ids on stderr first
    }

    [Fact]
    public async Task Jobs_cancel_stops_a_long_running_job_and_frees_its_agent()
    {
        var api = await StartFleetAsync("""sh -c 'if [ "$DROVER_ARGS" = long ]; then sleep 120; fi; echo finished'""");
        var (exit, sent, error) = await RunJsonLinesAsync("send", WriteFile("long.txt", "x"), "--args", "long", "--json", "--api", api);
        Assert.True(exit == 0, $"send exited {exit}: {error}");
        var id = Assert.Single(sent).GetProperty("id").GetString()!;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await JobAsync(api, id)).GetProperty("state").GetString() != "running")
        {
            Assert.True(DateTime.UtcNow < deadline, "the long job never started");
            await Task.Delay(200);
        }

        // The operator sees the agent's slot taken (jobs in flight / slots).
        var (clientsExit, clients, clientsError) = await RunCliAsync("clients", "--api", api);
        Assert.True(clientsExit == 0, $"clients exited {clientsExit}: {clientsError}");
        Assert.Matches(@"worker-1\s.*\s1/1\s", clients);

        var (cancelExit, cancelOutput, cancelError) = await RunCliAsync("cancel", id, "--api", api);
        Assert.True(cancelExit == 0, $"cancel exited {cancelExit}: {cancelError}");
        Assert.Contains($"{id}  cancelled", cancelOutput, StringComparison.Ordinal);
        Assert.Equal("cancelled", (await JobAsync(api, id)).GetProperty("state").GetString());

        (cancelExit, _, cancelError) = await RunCliAsync("cancel", id, "--api", api);
        Assert.Equal(3, cancelExit);
        Assert.Contains("409", cancelError, StringComparison.Ordinal);

        // The only agent has one slot: a second job finishing shows the handler of the first was stopped.
        var (quickExit, quick, quickError) = await RunJsonLinesAsync("send", WriteFile("quick.txt", "y"), "--timeout", "20s", "--wait", "--json", "--api", api);
        Assert.True(quickExit == 0, $"send --wait exited {quickExit}: {quickError}");
        Assert.Equal("finished", Assert.Single(quick).GetProperty("stdout").GetString()!.Trim());
    }
}
