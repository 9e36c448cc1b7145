using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Drover.Agent;
using Drover.Protocol;
using Drover.TestUtilities;
using Xunit.Abstractions;

namespace Drover.Cli.Tests;

/// <summary>The reliability tests of issue 4, each with real processes: a real <c>drover serve</c> child (killed
/// with SIGKILL where the test says so), real <c>drover agent</c> children, or, where many fast agents are needed,
/// in-process <see cref="DroverAgent"/>s over real sockets. What is durable is checked in the hub's SQLite file.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the field.")]
public sealed class JobReliabilityTests : IAsyncLifetime
{
    private const string Token = "t0k";
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-rel-").FullName;
    private readonly List<DroverProcess> _processes = [];
    private HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private readonly ITestOutputHelper _output;

    public JobReliabilityTests(ITestOutputHelper output) => _output = output;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>xunit v2 calls <see cref="IAsyncLifetime.DisposeAsync"/> (not IAsyncDisposable) on test classes.</summary>
    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        _http.Dispose();
        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    // ---------------------------------------------------------------------------------------------------------
    // 1. kill -9 the hub with 10,000 jobs queued or in flight

    [Fact]
    public async Task JobReliability_hub_killed_with_10000_jobs_queued_and_in_flight_restarts_and_every_job_ends_done_once()
    {
        const int JobCount = 10_000;
        const int PerRequest = 1_000;
        const int AgentCount = 10;
        const int SlotsPerAgent = 20;
        var total = Stopwatch.StartNew();
        var data = Path.Combine(_dir, "hub");
        var (serve, port, api) = await StartServeAsync(data, 0, "--disconnect-grace", "3s");

        // All 10,000 are committed (queued) before any agent exists: ten multipart requests of 1,000 files.
        var submitted = new List<string>(JobCount);
        for (var request = 0; request < JobCount / PerRequest; request++)
        {
            var files = Enumerable.Range(request * PerRequest, PerRequest)
                .Select(n => (Disposition: $"filename=\"f{n}.txt\"", Content: Encoding.ASCII.GetBytes($"job {n}\n")));
            submitted.AddRange(await SubmitMultipartAsync(api, "timeout=30s&retries=10", files));
        }

        Assert.Equal(JobCount, submitted.Distinct(StringComparer.Ordinal).Count());
        var submitSeconds = total.Elapsed.TotalSeconds;

        // Fast in-process agents over real sockets: up to 200 jobs in flight, each 5-40 ms.
        var handler = new FastHandler();
        await using var fleet = new InProcessFleet(
            Enumerable.Range(1, AgentCount).Select(i => new AgentOptions
            {
                Hubs = [$"127.0.0.1:{port}"],
                AgentId = $"fast-{i:D2}",
                Trust = HubTrust.FromAuthorityFile(_caFile!), // the hub's own CA
                Token = Token,
                JobHandler = handler,
                JobSlots = SlotsPerAgent,
                WorkDirectory = Path.Combine(_dir, $"work-{i:D2}"),
                IncludeSystemMetrics = false,
                BackoffBase = TimeSpan.FromMilliseconds(100),
                BackoffCap = TimeSpan.FromSeconds(1),
            }));

        // Kill the hub once ~3,000 are done: the rest are queued, leased, running, or finished and not yet acknowledged.
        var atKill = await Poll.UntilAsync(() => JobStatsAsync(api), s => s.Done >= 3_000, TimeSpan.FromSeconds(60), "3,000 jobs done", TimeSpan.FromMilliseconds(20));
        serve.KillHard();
        await serve.WaitForExitAsync();
        var runsAtKill = handler.Runs;
        var killedAt = total.Elapsed.TotalSeconds;

        var (restarted, _, api2) = await StartServeAsync(data, port, "--disconnect-grace", "3s");
        var final = await Poll.UntilAsync(() => JobStatsAsync(api2), s => s.Done == JobCount, TimeSpan.FromSeconds(90), "all 10,000 jobs done after the restart", TimeSpan.FromMilliseconds(200));
        Assert.Equal((0, 0, 0, 0), (final.Queued, final.Running, final.Dead, final.Cancelled));
        var doneAt = total.Elapsed.TotalSeconds;

        restarted.Terminate();
        Assert.Equal(0, await restarted.WaitForExitAsync());
        await fleet.DisposeAsync();

        using var db = new HubDatabase(data);
        Assert.Equal(["done|10000"], Text(db.Rows("SELECT state, COUNT(*) FROM jobs GROUP BY state")));
        Assert.Equal(submitted.Order(StringComparer.Ordinal), db.Rows("SELECT id FROM jobs ORDER BY id").Select(r => (string)r[0]!));
        Assert.Equal(JobCount, db.Count("SELECT COUNT(*) FROM job_results"));
        Assert.Equal(0, db.Count("SELECT COUNT(*) FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id WHERE r.job_id IS NULL"));
        Assert.Equal(0, db.Count("SELECT COUNT(*) FROM job_results r JOIN jobs j ON j.id = r.job_id WHERE r.attempt <> j.attempt OR r.outcome <> 'completed' OR r.exit_code <> 0"));
        Assert.Equal(0, db.Count("SELECT COUNT(*) FROM job_results WHERE job_id NOT IN (SELECT id FROM jobs)"));

        var attempts = db.Count("SELECT COUNT(*) FROM job_attempts");
        var stale = db.Count("SELECT COUNT(*) FROM stale_results");
        var retried = db.Count("SELECT COUNT(*) FROM jobs WHERE attempt > 1");
        var maxAttempt = db.Count("SELECT MAX(attempt) FROM jobs");
        var ranTwice = handler.RunsPerJob.Count(p => p.Value > 1);
        _output.WriteLine($"submitted {JobCount} jobs in {submitSeconds:F1} s; hub killed at {killedAt:F1} s with {atKill}");
        _output.WriteLine($"handler runs: {runsAtKill} before the kill, {handler.Runs} in all; {ranTwice} jobs ran more than once");
        _output.WriteLine($"after the restart all {JobCount} done at {doneAt:F1} s: {JobCount} result rows, {attempts} given-up attempts (job_attempts), {stale} stale results, {retried} jobs needed more than one attempt (max attempt {maxAttempt})");
        foreach (var row in db.Rows("SELECT outcome, COUNT(*) FROM job_attempts GROUP BY outcome ORDER BY 2 DESC LIMIT 5"))
        {
            _output.WriteLine($"  job_attempts: {row[1]} × {row[0]}");
        }

        foreach (var row in db.Rows("SELECT outcome, COUNT(*) FROM stale_results GROUP BY outcome"))
        {
            _output.WriteLine($"  stale_results: {row[1]} × {row[0]}");
        }

        Assert.True(atKill.Done < JobCount && atKill.Queued + atKill.Running > 1_000, $"the kill came too late to prove anything: {atKill}");
        Assert.True(stale <= attempts, $"{stale} stale results but only {attempts} given-up attempts");
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(60), $"took {total.Elapsed}");
    }

    // ---------------------------------------------------------------------------------------------------------
    // 2. kill -9 an agent mid-job

    [Fact]
    public async Task JobReliability_agent_killed_mid_job_the_job_runs_on_the_other_agent_after_the_grace()
    {
        var data = Path.Combine(_dir, "hub");
        var (_, port, api) = await StartServeAsync(data, 0, "--disconnect-grace", "2s");
        var started = Directory.CreateDirectory(Path.Combine(_dir, "started")).FullName;
        var agents = new Dictionary<string, DroverProcess>(StringComparer.Ordinal);
        foreach (var id in new[] { "mid-a", "mid-b" })
        {
            agents[id] = await StartAgentAsync(port, id, $"""sh -c 'touch {started}/$DROVER_AGENT_ID; sleep 3; echo ok'""");
        }

        var jobId = Assert.Single(await SubmitMultipartAsync(api, "timeout=60s&retries=2", [("filename=\"one.txt\"", "x"u8.ToArray())]));
        var running = await WaitForJobAsync(api, jobId, j => j.GetProperty("state").GetString() == "running" && j.GetProperty("agent").ValueKind == JsonValueKind.String, "the job to be leased");
        var victim = running.GetProperty("agent").GetString()!;
        var survivor = agents.Keys.Single(id => id != victim);
        await Poll.UntilAsync(() => Task.FromResult(File.Exists(Path.Combine(started, victim))), s => s, TimeSpan.FromSeconds(30), $"the handler to start on {victim}");

        agents[victim].KillHard();
        await agents[victim].WaitForExitAsync();
        var killed = Stopwatch.StartNew();

        var done = await WaitForJobAsync(api, jobId, j => j.GetProperty("state").GetString() is "done" or "dead", "the job to finish on the other agent", TimeSpan.FromSeconds(60));
        Assert.Equal("done", done.GetProperty("state").GetString());
        Assert.Equal(2, done.GetProperty("attempt").GetInt32());
        Assert.Equal(survivor, done.GetProperty("agent").GetString());
        Assert.Equal("ok", done.GetProperty("stdout").GetString()!.Trim());
        Assert.True(killed.Elapsed >= TimeSpan.FromSeconds(2), $"done {killed.Elapsed} after the kill: sooner than the 2 s grace plus the 3 s handler");

        using var db = new HubDatabase(data);
        var attempt = Assert.Single(db.Rows("SELECT attempt, agent_id, outcome FROM job_attempts WHERE job_id = $p0", jobId));
        Assert.Equal(1L, attempt[0]);
        Assert.Equal(victim, attempt[1]);
        Assert.Contains("disconnected", (string)attempt[2]!, StringComparison.Ordinal);
        Assert.Equal([$"2|{survivor}"], Text(db.Rows("SELECT attempt, agent_id FROM job_results WHERE job_id = $p0", jobId)));
        _output.WriteLine($"job {jobId}: attempt 1 on {victim} (killed; '{attempt[2]}'), attempt 2 done on {survivor} {killed.Elapsed.TotalSeconds:F1} s after the kill");
    }

    // ---------------------------------------------------------------------------------------------------------
    // 3. a hanging handler, a crashing handler, a corrupted file

    [Fact]
    public async Task JobReliability_a_hanging_handler_is_killed_at_the_timeout_with_its_whole_process_tree()
    {
        var pids = Directory.CreateDirectory(Path.Combine(_dir, "pids")).FullName;
        var (_, port, api) = await StartServeAsync(Path.Combine(_dir, "hub"));
        await StartAgentAsync(port, "hang-1", $"""sh -c 'echo $$ > {pids}/sh.pid; sleep 300 & echo $! > {pids}/sleep.pid; wait'""");

        var jobId = Assert.Single(await SubmitMultipartAsync(api, "timeout=2s&retries=0", [("filename=\"hang.txt\"", "x"u8.ToArray())]));
        var job = await WaitForJobAsync(api, jobId, j => j.GetProperty("state").GetString() is "done" or "dead", "the hanging job to end", TimeSpan.FromSeconds(60));

        Assert.Equal("dead", job.GetProperty("state").GetString());
        Assert.Equal("timed-out", job.GetProperty("outcome").GetString());
        Assert.Contains("timeout", job.GetProperty("deadReason").GetString(), StringComparison.Ordinal);
        var duration = job.GetProperty("durationMs").GetInt64();
        Assert.InRange(duration, 1_900, 20_000);
        foreach (var name in new[] { "sh.pid", "sleep.pid" })
        {
            var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(pids, name))).Trim(), CultureInfo.InvariantCulture);
            await Poll.UntilAsync(() => Task.FromResult(IsAlive(pid)), alive => !alive, TimeSpan.FromSeconds(15), $"process {pid} ({name}) to be gone");
        }

        _output.WriteLine($"job {jobId}: timed-out after {duration} ms ('{job.GetProperty("deadReason").GetString()}'); sh and its background sleep are gone");
    }

    [Fact]
    public async Task JobReliability_a_crashing_handler_is_retried_on_the_other_agent_then_dead_with_its_reason()
    {
        var data = Path.Combine(_dir, "hub");
        var (_, port, api) = await StartServeAsync(data);
        await StartAgentAsync(port, "crash-a", """sh -c 'echo broken >&2; exit 3'""");
        await StartAgentAsync(port, "crash-b", """sh -c 'echo broken >&2; exit 3'""");

        var jobId = Assert.Single(await SubmitMultipartAsync(api, "timeout=30s&retries=1", [("filename=\"crash.txt\"", "x"u8.ToArray())]));
        var job = await WaitForJobAsync(api, jobId, j => j.GetProperty("state").GetString() is "done" or "dead", "the crashing job to end", TimeSpan.FromSeconds(60));

        Assert.Equal("dead", job.GetProperty("state").GetString());
        Assert.Equal(2, job.GetProperty("attempt").GetInt32());
        Assert.Equal(3, job.GetProperty("exitCode").GetInt32());
        Assert.Equal("broken", job.GetProperty("stderr").GetString()!.Trim());
        var reason = job.GetProperty("deadReason").GetString()!;
        Assert.Contains("exit code 3", reason, StringComparison.Ordinal);

        using var db = new HubDatabase(data);
        var attempts = db.Rows("SELECT attempt, agent_id, exit_code FROM job_attempts WHERE job_id = $p0 ORDER BY attempt", jobId);
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(3L, a[2]));
        Assert.NotEqual(attempts[0][1], attempts[1][1]);
        _output.WriteLine($"job {jobId}: attempt 1 on {attempts[0][1]}, attempt 2 on {attempts[1][1]}, both exit 3; dead: '{reason}'");
    }

    [Fact]
    public async Task JobReliability_a_corrupted_file_is_refused_by_the_agent_each_attempt_and_ends_dead_naming_the_hash_mismatch()
    {
        var data = Path.Combine(_dir, "hub");
        var marker = Path.Combine(_dir, "handler-ran");
        var work = Path.Combine(_dir, "work-h");
        var (serve, _, api) = await StartServeAsync(data);

        // Aimed at an agent that is not there yet: it waits in the queue, committed with its content and hash.
        var jobId = Assert.Single(await SubmitMultipartAsync(api, "to=agent:hash-1&timeout=60s&retries=1", [("filename=\"data.bin\"", "the real content\n"u8.ToArray())]));
        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());

        using (var db = new HubDatabase(data))
        {
            Assert.Equal(1, db.Execute("UPDATE contents SET content = $p0 WHERE id = (SELECT content_id FROM jobs WHERE id = $p1)", "the fake content\n"u8.ToArray(), jobId));
        }

        var (_, port, api2) = await StartServeAsync(data);
        var agent = await StartAgentAsync(port, "hash-1", $"""sh -c 'touch {marker}; echo ran'""", work);
        var job = await WaitForJobAsync(api2, jobId, j => j.GetProperty("state").GetString() is "done" or "dead", "the corrupted job to end", TimeSpan.FromSeconds(60));

        Assert.Equal("dead", job.GetProperty("state").GetString());
        Assert.Equal(2, job.GetProperty("attempt").GetInt32());
        Assert.Equal("hash-mismatch", job.GetProperty("outcome").GetString());
        var reason = job.GetProperty("deadReason").GetString()!;
        Assert.Contains("hash-mismatch", reason, StringComparison.Ordinal);
        Assert.False(File.Exists(marker), "the handler ran on a file whose hash did not match");
        Assert.Empty(Directory.Exists(work) ? Directory.GetFileSystemEntries(work, "*", SearchOption.AllDirectories) : []);

        using (var db = new HubDatabase(data))
        {
            Assert.Equal(
                ["1|hash-mismatch|hash-1", "2|hash-mismatch|hash-1"],
                Text(db.Rows("SELECT attempt, outcome, agent_id FROM job_attempts WHERE job_id = $p0 ORDER BY attempt", jobId)));
        }

        Assert.Contains("HashMismatch", agent.Output, StringComparison.Ordinal);
        _output.WriteLine($"job {jobId}: both attempts refused by the agent; dead: '{reason}'");
    }

    // ---------------------------------------------------------------------------------------------------------
    // 4. a duplicate, an unknown job, a stale attempt

    [Fact]
    public async Task JobReliability_duplicate_unknown_and_stale_results_are_acknowledged_and_change_nothing()
    {
        var data = Path.Combine(_dir, "hub");
        // --insecure: a raw protocol client speaks the frames without TLS.
        var (_, port, api) = await StartServeAsync(data, 0, "--insecure", "--interval", "60s", "--disconnect-grace", "1s");
        var hub = new IPEndPoint(IPAddress.Loopback, port);
        var raw = await ConnectRawAgentAsync(hub);
        try
        {
            // A duplicate: the same attempt's result twice, the second one claiming a failure.
            var a = Assert.Single(await SubmitMultipartAsync(api, "timeout=60s&retries=2", [("filename=\"a.txt\"", "a"u8.ToArray())]));
            var jobA = await raw.ReceiveAsync<Job>(TimeSpan.FromSeconds(30));
            Assert.Equal((a, 1u), (jobA.JobId, jobA.Attempt));
            await raw.SendAsync(new JobAccepted(a, 1));
            await SendResultAndWaitForAckAsync(raw, Result(a, 1, 0, "first"));
            await SendResultAndWaitForAckAsync(raw, Result(a, 1, 1, "second"));
            var viewA = await GetJobAsync(api, a);
            Assert.Equal(("done", 1, 0, "first"), (viewA.GetProperty("state").GetString(), viewA.GetProperty("attempt").GetInt32(), viewA.GetProperty("exitCode").GetInt32(), viewA.GetProperty("stdout").GetString()));

            // A result for a job the hub never had.
            const string Unknown = "j-00000000000000000000000000";
            await SendResultAndWaitForAckAsync(raw, Result(Unknown, 1, 0, "nobody asked"));
            using (var missing = await _http.GetAsync(new Uri(api + "api/jobs/" + Unknown)))
            {
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            }

            // A stale attempt: take B, drop the connection, let the grace requeue it, take attempt 2, then send 1's result.
            var b = Assert.Single(await SubmitMultipartAsync(api, "timeout=60s&retries=2", [("filename=\"b.txt\"", "b"u8.ToArray())]));
            var jobB = await raw.ReceiveAsync<Job>(TimeSpan.FromSeconds(30));
            Assert.Equal((b, 1u), (jobB.JobId, jobB.Attempt));
            await raw.SendAsync(new JobAccepted(b, 1));
            await raw.DisposeAsync();
            await WaitForJobAsync(api, b, j => j.GetProperty("state").GetString() == "queued" && j.GetProperty("attempt").GetInt32() == 1, "job B to be requeued after the disconnect grace");

            raw = await ConnectRawAgentAsync(hub);
            var jobB2 = await raw.ReceiveAsync<Job>(TimeSpan.FromSeconds(30));
            Assert.Equal((b, 2u), (jobB2.JobId, jobB2.Attempt));
            await raw.SendAsync(new JobAccepted(b, 2));
            await SendResultAndWaitForAckAsync(raw, Result(b, 1, 0, "stale"));
            var stillRunning = await GetJobAsync(api, b);
            Assert.Equal(("running", 2), (stillRunning.GetProperty("state").GetString(), stillRunning.GetProperty("attempt").GetInt32()));
            await SendResultAndWaitForAckAsync(raw, Result(b, 2, 0, "fresh"));
            var viewB = await GetJobAsync(api, b);
            Assert.Equal(("done", 2, "fresh"), (viewB.GetProperty("state").GetString(), viewB.GetProperty("attempt").GetInt32(), viewB.GetProperty("stdout").GetString()));
            using (var result = await _http.GetAsync(new Uri(api + "api/jobs/" + b + "/result")))
            {
                var view = JsonDocument.Parse(await result.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal((2, "fresh"), (view.GetProperty("attempt").GetInt32(), view.GetProperty("stdout").GetString()));
            }

            using var db = new HubDatabase(data);
            Assert.Equal([$"{a}|done|1", $"{b}|done|2"], Text(db.Rows("SELECT id, state, attempt FROM jobs ORDER BY id")));
            Assert.Equal(
                [$"{a}|1|0|first", $"{b}|2|0|fresh"],
                Text(db.Rows("SELECT job_id, attempt, exit_code, stdout_tail FROM job_results ORDER BY job_id")));
            Assert.Equal([$"{b}|1|raw-agent|stale"], Text(db.Rows("SELECT job_id, attempt, agent_id, stdout_tail FROM stale_results")));
            Assert.Equal(0, db.Count("SELECT (SELECT COUNT(*) FROM jobs WHERE id = $p0) + (SELECT COUNT(*) FROM job_results WHERE job_id = $p0) + (SELECT COUNT(*) FROM stale_results WHERE job_id = $p0) + (SELECT COUNT(*) FROM job_attempts WHERE job_id = $p0)", Unknown));
            var given = Assert.Single(db.Rows("SELECT job_id, attempt, outcome FROM job_attempts"));
            Assert.Equal((b, 1L), ((string)given[0]!, (long)given[1]!));
            _output.WriteLine($"duplicate of {a} acked and ignored; unknown {Unknown} acked, stored nowhere; stale attempt 1 of {b} in stale_results (attempt 1 given up: '{given[2]}')");
        }
        finally
        {
            await raw.DisposeAsync();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 5. hostile file names

    [Fact]
    public async Task JobReliability_hostile_file_names_run_and_nothing_is_written_outside_the_work_dir()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "root")).FullName;
        var work = Path.Combine(root, "a", "b", "work");
        Directory.CreateDirectory(work);
        var inputs = Directory.CreateDirectory(Path.Combine(_dir, "inputs")).FullName;
        var (_, port, api) = await StartServeAsync(Path.Combine(_dir, "hub"));
        await StartAgentAsync(port, "names-1", """sh -c 'printf "%s\n" "$DROVER_FILE"'""", work);
        var before = Snapshot(root, work);

        var ids = new List<(string Case, string Id)>();
        async Task MultipartAsync(string label, string disposition) =>
            ids.Add((label, Assert.Single(await SubmitMultipartAsync(api, "timeout=30s&retries=0", [(disposition, Encoding.UTF8.GetBytes(label))]))));

        await MultipartAsync("relative ../", "filename=\"../../../escape-rel.txt\"");
        await MultipartAsync("deep ../", "filename=\"" + string.Concat(Enumerable.Repeat("../", 40)) + "tmp/escape-deep.txt\"");
        await MultipartAsync("absolute", $"filename=\"{root}/escape-abs.txt\"");
        await MultipartAsync("raw NUL byte in the part header", "filename=\"raw\0../../../escape-raw-nul.txt\"");
        await MultipartAsync("NUL, percent-encoded filename*", "filename*=UTF-8''nul%00..%2F..%2F..%2Fescape-nul.txt");
        await MultipartAsync("10,000 characters", "filename=\"" + new string('n', 10_000) + "\"");
        await MultipartAsync("10,000 characters of ../", "filename=\"" + string.Concat(Enumerable.Repeat("../", 3_333)) + "x\"");
        await MultipartAsync("backslashes", "filename=\"..\\\\..\\\\..\\\\escape-bs.txt\"");

        // The single-file body, named by the query, with a percent-encoded NUL and slashes.
        using (var body = new ByteArrayContent("query"u8.ToArray()))
        {
            using var response = await _http.PostAsync(new Uri(api + "api/jobs?timeout=30s&retries=0&name=..%2F..%2F..%2Fescape-q%00.txt"), body);
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
            ids.Add(("query name with NUL", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0].GetProperty("id").GetString()!));
        }

        // drover send with a path that climbs: the CLI names the job by the file name only.
        var climbing = Path.Combine(inputs, "..", "inputs", "sent.txt");
        await File.WriteAllTextAsync(climbing, "sent");
        var (exit, sent, error) = await DroverProcess.RunAsync("send", climbing, "--timeout", "30s", "--retries", "0", "--json", "--api", api, "--ca", _caFile!);
        Assert.True(exit == 0, $"send exited {exit}: {error}");
        ids.Add(("drover send ../", JsonDocument.Parse(sent.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]).RootElement.GetProperty("id").GetString()!));

        var workPrefix = Path.GetFullPath(work) + Path.DirectorySeparatorChar;
        foreach (var (label, id) in ids)
        {
            var job = await WaitForJobAsync(api, id, j => j.GetProperty("state").GetString() is "done" or "dead", $"the '{label}' job to end", TimeSpan.FromSeconds(60));
            Assert.True(job.GetProperty("state").GetString() == "done", $"'{label}': {job}");
            var file = job.GetProperty("stdout").GetString()!.Trim();
            var name = job.GetProperty("name").GetString()!;
            Assert.True(file.StartsWith(workPrefix, StringComparison.Ordinal) && Path.GetFullPath(file) == file, $"'{label}': DROVER_FILE {file} is not a plain path under {work}");
            Assert.Matches(@"^input(\.[A-Za-z0-9]{1,16})?$", Path.GetFileName(file));
            Assert.True(name.Length <= 255 && !name.Contains('/', StringComparison.Ordinal) && !name.Contains('\0', StringComparison.Ordinal), $"'{label}': stored name {name}");
            _output.WriteLine($"{label}: name kept as '{(name.Length > 40 ? name[..40] + "…" : name)}' ({name.Length} chars), ran as {file[workPrefix.Length..]}");
        }

        Assert.Equal(before, Snapshot(root, work));

        // Each job directory is deleted once its result is acknowledged: the work dir ends empty.
        await Poll.UntilAsync(() => Task.FromResult(Directory.GetFileSystemEntries(work).Length), n => n == 0, TimeSpan.FromSeconds(15), "the work dir to be emptied");
    }

    /// <summary>The hub cleans names before they are stored, so the test above never shows the agent a hostile one. Here
    /// the names are written into the stored jobs behind the hub's back (while the agent is offline and the hub stopped),
    /// so the agent itself receives <c>../</c>, absolute paths, NUL bytes and 10,000 characters in job frames.</summary>
    [Fact]
    public async Task JobReliability_hostile_file_names_that_reach_the_agent_unclean_still_stay_in_the_work_dir()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "root")).FullName;
        var work = Directory.CreateDirectory(Path.Combine(root, "a", "b", "work")).FullName;
        var data = Path.Combine(_dir, "hub");
        var (serve, _, api) = await StartServeAsync(data);
        string[] names =
        [
            "../../../escape-rel.txt",
            string.Concat(Enumerable.Repeat("../", 40)) + "tmp/escape-deep.txt",
            root + "/escape-abs.txt",
            "nul\0/../../../escape-nul.txt",
            new string('n', 10_000),
            string.Concat(Enumerable.Repeat("../", 3_333)) + "x",
            "../../../.profile",
            "..",
            "",
        ];
        var ids = await SubmitMultipartAsync(api, "to=agent:unclean-1&timeout=30s&retries=0", names.Select((_, i) => ($"filename=\"n{i}.txt\"", Encoding.UTF8.GetBytes($"job {i}"))));
        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());
        using (var db = new HubDatabase(data))
        {
            for (var i = 0; i < names.Length; i++)
            {
                Assert.Equal(1, db.Execute("UPDATE jobs SET file_name = $p0 WHERE id = $p1", names[i], ids[i]));
            }
        }

        var before = Snapshot(root, work);
        var (_, port, api2) = await StartServeAsync(data);
        await StartAgentAsync(port, "unclean-1", """sh -c 'printf "%s\n" "$DROVER_FILE"'""", work);

        var workPrefix = work + Path.DirectorySeparatorChar;
        for (var i = 0; i < names.Length; i++)
        {
            var job = await WaitForJobAsync(api2, ids[i], j => j.GetProperty("state").GetString() is "done" or "dead", $"the job named {names[i][..Math.Min(30, names[i].Length)]} to end", TimeSpan.FromSeconds(60));
            Assert.True(job.GetProperty("name").GetString() == names[i], $"the stored name of job {i} was not the hostile one");
            Assert.True(job.GetProperty("state").GetString() == "done", $"job {i}: {job}");
            var file = job.GetProperty("stdout").GetString()!.Trim();
            Assert.True(file.StartsWith(workPrefix, StringComparison.Ordinal) && Path.GetFullPath(file) == file, $"job {i}: DROVER_FILE {file} is not a plain path under {work}");
            Assert.Matches(@"^input(\.[A-Za-z0-9]{1,16})?$", Path.GetFileName(file));
            _output.WriteLine($"'{(names[i].Length > 30 ? names[i][..30] + "…" : names[i]).Replace("\0", "\\0", StringComparison.Ordinal)}' ({names[i].Length} chars) ran as {file[workPrefix.Length..]}");
        }

        Assert.Equal(before, Snapshot(root, work));
        await Poll.UntilAsync(() => Task.FromResult(Directory.GetFileSystemEntries(work).Length), n => n == 0, TimeSpan.FromSeconds(15), "the work dir to be emptied");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Helpers

    /// <summary>`drover serve` on 127.0.0.1 (agent port <paramref name="agentPort"/>, 0 for a free one; HTTP on a free
    /// port) with <paramref name="extra"/> flags; returns the agent port and the API URL.</summary>
    private string? _caFile;

    private async Task<(DroverProcess Serve, int AgentPort, string Api)> StartServeAsync(string data, int agentPort = 0, params string[] extra)
    {
        string[] interval = extra.Contains("--interval") ? [] : ["--interval", "5s"];
        var serve = DroverProcess.Start(["serve", "--listen", $"127.0.0.1:{agentPort}", "--http", "127.0.0.1:0", "--data", data, "--token", Token, .. interval, .. extra]);
        _caFile = Path.Combine(data, "tls", "ca.pem"); // made on the hub's first start, kept across its restarts
        _processes.Add(serve);
        var listening = await serve.WaitForLineAsync(EndToEndTests.ServeListening, TimeSpan.FromSeconds(60));
        _http.Dispose();
        _http = ApiClients.ForHub(listening.Groups[2].Value, data, timeout: TimeSpan.FromSeconds(60));
        return (serve, int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture), listening.Groups[2].Value);
    }

    private async Task<DroverProcess> StartAgentAsync(int port, string id, string handler, string? workdir = null)
    {
        var agent = DroverProcess.Start(
            "agent", "--hub", $"127.0.0.1:{port}", "--ca", _caFile!, "--id", id, "--token", Token, "--slots", "1",
            "--workdir", workdir ?? Path.Combine(_dir, "work-" + id), "--handler", handler);
        _processes.Add(agent);
        await agent.WaitForLineAsync($"{id} connected to", TimeSpan.FromSeconds(60));
        return agent;
    }

    /// <summary>One multipart/form-data request, each part given by the parameters after <c>form-data; name="file"; </c>
    /// (written as they are, so a test controls every byte of a filename); returns the job ids in part order.</summary>
    private async Task<List<string>> SubmitMultipartAsync(string api, string query, IEnumerable<(string Disposition, byte[] Content)> parts)
    {
        const string Boundary = "drover-reliability-boundary";
        using var body = new MemoryStream();
        foreach (var (disposition, content) in parts)
        {
            body.Write(Encoding.UTF8.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"));
            body.Write(content);
            body.Write("\r\n"u8);
        }

        body.Write(Encoding.UTF8.GetBytes($"--{Boundary}--\r\n"));
        using var request = new ByteArrayContent(body.ToArray());
        request.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        using var response = await _http.PostAsync(new Uri(api + "api/jobs?" + query), request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /api/jobs answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToList();
    }

    private async Task<JsonElement> GetJobAsync(string api, string id)
    {
        using var response = await _http.GetAsync(new Uri(api + "api/jobs/" + id));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET /api/jobs/{id} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Task<JsonElement> WaitForJobAsync(string api, string id, Func<JsonElement, bool> until, string what, TimeSpan? timeout = null) =>
        Poll.UntilAsync(() => GetJobAsync(api, id), until, timeout ?? TimeSpan.FromSeconds(30), what);

    private sealed record JobCounts(int Queued, int Running, int Done, int Dead, int Cancelled)
    {
        public override string ToString() => $"queued {Queued}, running {Running}, done {Done}, dead {Dead}, cancelled {Cancelled}";
    }

    private async Task<JobCounts> JobStatsAsync(string api)
    {
        using var response = await _http.GetAsync(new Uri(api + "api/stats"));
        response.EnsureSuccessStatusCode();
        var jobs = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs");
        return new JobCounts(
            jobs.GetProperty("queued").GetInt32(),
            jobs.GetProperty("running").GetInt32(),
            jobs.GetProperty("done").GetInt32(),
            jobs.GetProperty("dead").GetInt32(),
            jobs.GetProperty("cancelled").GetInt32());
    }

    private static async Task<RawProtocolClient> ConnectRawAgentAsync(IPEndPoint hub)
    {
        var raw = await RawProtocolClient.ConnectAsync(hub);
        raw.MaxFrameSize = ProtocolConstants.MaxJobFrameSize;
        var answer = await raw.HandshakeAsync(RawProtocolClient.MakeHello("raw-agent", Token, jobSlots: 2), TimeSpan.FromSeconds(30));
        Assert.IsType<Welcome>(answer);
        return raw;
    }

    private static JobResult Result(string jobId, uint attempt, int exitCode, string stdout) =>
        new(jobId, attempt, JobOutcome.Completed, exitCode, 5, Encoding.UTF8.GetBytes(stdout), ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, string.Empty);

    private static async Task SendResultAndWaitForAckAsync(RawProtocolClient raw, JobResult result)
    {
        await raw.SendAsync(result);
        var ack = await raw.ReceiveAsync<JobResultAck>(TimeSpan.FromSeconds(30));
        Assert.Equal((result.JobId, result.Attempt), (ack.JobId, ack.Attempt));
    }

    /// <summary>Rows as "a|b|c" (blobs decoded as UTF-8), to compare with expected text.</summary>
    private static List<string> Text(List<object?[]> rows) =>
        rows.Select(r => string.Join('|', r.Select(v => v switch
        {
            null => "null",
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => v.ToString(),
        }))).ToList();

    /// <summary>Every file and directory under <paramref name="root"/> outside <paramref name="work"/>, with file sizes.</summary>
    private static List<string> Snapshot(string root, string work)
    {
        var workPrefix = Path.GetFullPath(work) + Path.DirectorySeparatorChar;
        return Directory.GetFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(p => !p.StartsWith(workPrefix, StringComparison.Ordinal))
            .Select(p => File.Exists(p) ? $"{p} ({new FileInfo(p).Length} bytes)" : p + "/")
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Whether <paramref name="pid"/> is a live process (a zombie waiting to be reaped counts as gone).</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>An in-process handler that only waits a few milliseconds, counting runs per job.</summary>
    private sealed class FastHandler : IJobHandler
    {
        private int _runs;

        public int Runs => Volatile.Read(ref _runs);

        public ConcurrentDictionary<string, int> RunsPerJob { get; } = new(StringComparer.Ordinal);

        public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _runs);
            RunsPerJob.AddOrUpdate(job.JobId, 1, (_, n) => n + 1);
            await Task.Delay(Random.Shared.Next(5, 40), cancellationToken);
            return JobHandlerResult.Success;
        }
    }

    /// <summary>In-process agents running until disposed.</summary>
    private sealed class InProcessFleet : IAsyncDisposable
    {
        private readonly List<DroverAgent> _agents;
        private readonly List<Task> _runs;

        public InProcessFleet(IEnumerable<AgentOptions> options)
        {
            _agents = options.Select(o => new DroverAgent(o)).ToList();
            _runs = _agents.Select(a => a.RunAsync(CancellationToken.None)).ToList();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var agent in _agents)
            {
                await agent.DisposeAsync();
            }

            await Task.WhenAll(_runs);
        }
    }
}
