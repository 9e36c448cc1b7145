using System.Text;
using System.Text.Json;
using Drover.Protocol;

namespace Drover.Agent.Tests;

/// <summary>Jobs end to end: the <see cref="TestHub"/> sends job frames over a real socket, the agent runs real
/// <c>sh</c>/<c>python3</c> handlers (or in-process ones) and the hub checks what comes back. Handlers run in real
/// time; the report schedule, job timeouts and durations are on the fake clock, which only the test moves.</summary>
public sealed class JobTests : AgentHarness
{
    private static readonly byte[] Hello = Encoding.UTF8.GetBytes("hello, drover\n");

    private (TestHub Hub, AgentRun Run, string WorkDir) StartJobAgent(IJobHandler handler, Func<AgentOptions, AgentOptions>? configure = null,
        uint hubMaxFrameSize = 4 * 1024 * 1024)
    {
        var hub = NewHub();
        hub.MaxFrameSize = hubMaxFrameSize;
        var workDir = Path.Combine(NewTempDirectory(), "work");
        var options = Options(hub.Address) with { JobHandler = handler, JobSlots = 2, WorkDirectory = workDir };
        var run = StartAgent(configure?.Invoke(options) ?? options);
        return (hub, run, workDir);
    }

    private static async Task<TestHub.HubConnection> ConnectedAsync(TestHub hub, int connections = 1)
    {
        await Wait.UntilAsync(() => hub.ConnectionCount >= connections && hub.Connections[connections - 1].Statuses.Count >= 1, "agent connected");
        return hub.Connections[connections - 1];
    }

    private static async Task<JobResult> ResultAsync(TestHub.HubConnection connection, string jobId, uint attempt = 1)
    {
        await Wait.UntilAsync(() => connection.ResultOf(jobId, attempt) is not null, $"result of {jobId}");
        return connection.ResultOf(jobId, attempt)!;
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    [Fact]
    public async Task A_sh_handler_runs_and_its_result_carries_exit_code_tails_duration_and_out_file_then_the_ack_cleans_up()
    {
        var handler = new ProcessJobHandler("""sh -c 'cat "$1" > "$2"; echo to-stdout; echo to-stderr >&2; exit 3' sh {file} {out}""");
        var (hub, run, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);
        Assert.Equal(2, connection.Hello!.JobSlots);

        await connection.SendAsync(hub.CreateJob("j-1", Hello, fileName: "greeting.txt"));
        var result = await ResultAsync(connection, "j-1");

        Assert.IsType<JobAccepted>(connection.JobMessages[0]);
        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("to-stdout\n", Text(result.StdoutTail));
        Assert.Equal("to-stderr\n", Text(result.StderrTail));
        Assert.Equal(Hello, result.OutFile.ToArray());
        Assert.Equal(string.Empty, result.Error);
        Assert.Equal(0u, result.DurationMs); // the agent's clock did not move while the handler ran
        Assert.Equal(1, run.Agent.UnackedResults);
        Assert.Equal(0, run.Agent.JobsInFlight);
        var jobDir = Path.Combine(workDir, "j-1-1");
        Assert.True(File.Exists(Path.Combine(jobDir, "input.txt")));

        await connection.SendAsync(new JobResultAck("j-1", 1));
        await Wait.UntilAsync(() => run.Agent.UnackedResults == 0 && !Directory.Exists(jobDir), "result forgotten and job directory deleted");

        // Events reach the test's log through a background pump: under a loaded run the result frame can come first.
        await Wait.UntilAsync(() => run.Events.All.Any(e => e.Kind == AgentEventKind.JobFinished && e.JobId == "j-1" && e.Outcome == JobOutcome.Completed), "the job-finished event");
        Assert.Contains(run.Events.All, e => e.Kind == AgentEventKind.JobAccepted && e.JobId == "j-1" && e.Attempt == 1);
    }

    [Fact]
    public async Task Tails_are_the_last_bytes_and_a_chatty_handler_never_blocks()
    {
        // 1 MB on each stream (far over a pipe's 64 KiB), written interleaved: it only finishes if both are read as they come.
        var script = "import sys\nfor i in range(20000):\n    sys.stdout.write('o%049d' % i)\n    sys.stderr.write('e%049d' % i)\nsys.stdout.write('END-OUT')\nsys.stderr.write('END-ERR')\n";
        var handler = new ProcessJobHandler($"python3 -c \"{script}\"");
        var (hub, _, _) = StartJobAgent(handler, o => o with { OutputTailBytes = 100 });
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-chatty", Hello));
        var result = await ResultAsync(connection, "j-chatty");

        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(100, result.StdoutTail.Length);
        Assert.Equal(100, result.StderrTail.Length);
        Assert.EndsWith($"o{19999:D49}END-OUT", Text(result.StdoutTail), StringComparison.Ordinal);
        Assert.EndsWith($"e{19999:D49}END-ERR", Text(result.StderrTail), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hash_mismatch_is_refused_before_anything_is_written_or_run()
    {
        var calls = 0;
        var handler = new DelegateHandler((_, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(JobHandlerResult.Success);
        });
        var (hub, _, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        var wrong = new byte[32];
        await connection.SendAsync(hub.CreateJob("j-bad", Hello, sha256: wrong));
        var result = await ResultAsync(connection, "j-bad");

        Assert.IsType<JobAccepted>(connection.JobMessages[0]);
        Assert.Equal(JobOutcome.HashMismatch, result.Outcome);
        Assert.Equal(-1, result.ExitCode);
        Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Hello)), result.Error, StringComparison.Ordinal);
        Assert.Equal(0, calls);
        Assert.False(Directory.Exists(Path.Combine(workDir, "j-bad-1")));
    }

    [Fact]
    public async Task Busy_when_every_slot_is_taken_and_the_report_shows_busy_with_jobs_in_flight()
    {
        var release = new TaskCompletionSource<JobHandlerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new DelegateHandler((_, ct) => new ValueTask<JobHandlerResult>(release.Task.WaitAsync(ct)));
        var (hub, run, _) = StartJobAgent(handler, o => o with { JobSlots = 1 });
        var connection = await ConnectedAsync(hub);
        Assert.Equal(1L, connection.Statuses[0].Fields.Single(f => f.Key == "job_slots").Value.Integer);
        Assert.Equal(AgentState.Idle, connection.Statuses[0].State);

        await connection.SendAsync(hub.CreateJob("j-a", Hello));
        await Wait.UntilAsync(() => run.Agent.JobsInFlight == 1, "job a running");
        await connection.SendAsync(hub.CreateJob("j-b", Hello));
        await Wait.UntilAsync(() => connection.ReceivedOf<JobBusy>().Count == 1, "busy for job b");
        var busy = connection.ReceivedOf<JobBusy>()[0];
        Assert.Equal(("j-b", 1u), (busy.JobId, busy.Attempt));
        Assert.Contains("no free slot", busy.Reason, StringComparison.Ordinal);

        await Wait.AdvanceUntilAsync(Time, () => connection.Statuses.Count >= 2, "next report", TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        var report = connection.Statuses[^1];
        Assert.Equal(AgentState.Busy, report.State);
        Assert.Equal(1L, report.Fields.Single(f => f.Key == "jobs_in_flight").Value.Integer);

        release.SetResult(JobHandlerResult.Success);
        await ResultAsync(connection, "j-a");
        await connection.SendAsync(hub.CreateJob("j-c", Hello));
        await ResultAsync(connection, "j-c");
        Assert.Equal(2, run.Agent.JobsAccepted);
        Assert.Equal(1, run.Agent.JobsRefused);
    }

    [Fact]
    public async Task Busy_while_the_unacknowledged_results_are_at_their_limit_and_none_is_dropped()
    {
        var (hub, run, _) = StartJobAgent(new DelegateHandler((_, _) => ValueTask.FromResult(JobHandlerResult.Success)),
            o => o with { JobSlots = 4, MaxUnackedResults = 2 });
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-1", Hello));
        await connection.SendAsync(hub.CreateJob("j-2", Hello));
        await ResultAsync(connection, "j-1");
        await ResultAsync(connection, "j-2");
        await connection.SendAsync(hub.CreateJob("j-3", Hello));
        await Wait.UntilAsync(() => connection.ReceivedOf<JobBusy>().Count == 1, "busy for j-3");
        Assert.Contains("acknowledgement", connection.ReceivedOf<JobBusy>()[0].Reason, StringComparison.Ordinal);
        Assert.Equal(2, run.Agent.UnackedResults);

        await connection.SendAsync(new JobResultAck("j-1", 1));
        await Wait.UntilAsync(() => run.Agent.UnackedResults == 1, "j-1 acknowledged");
        await connection.SendAsync(hub.CreateJob("j-4", Hello));
        await ResultAsync(connection, "j-4");
    }

    [Fact]
    public async Task A_hanging_handler_is_killed_with_its_whole_process_tree_at_the_timeout()
    {
        // A real process tree; its 30 s timeout is on the fake clock, so it ends when the test moves the clock,
        // well before 30 s of real time (Wait gives up after 10).
        var handler = new ProcessJobHandler("""sh -c 'echo started; sleep 60 & echo $! > child.pid; sleep 60' """);
        var (hub, run, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-hang", Hello, timeoutMs: 30_000));
        var pidFile = Path.Combine(workDir, "j-hang-1", "child.pid");
        var childPid = 0;
        await Wait.UntilAsync(() => TryReadPid(pidFile, out childPid), "the handler started its background child");

        Time.Advance(TimeSpan.FromMilliseconds(29_999));
        await Wait.SettleAsync();
        Assert.Null(connection.ResultOf("j-hang"));
        Assert.Equal(1, run.Agent.JobsInFlight);
        Assert.True(IsAlive(childPid));

        Time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await ResultAsync(connection, "j-hang");

        Assert.Equal(JobOutcome.TimedOut, result.Outcome);
        Assert.Equal(137, result.ExitCode); // 128 + SIGKILL
        Assert.Equal("killed at the timeout of 30000 ms", result.Error);
        Assert.Equal("started\n", Text(result.StdoutTail));
        Assert.Equal(30_000u, result.DurationMs);
        await Wait.UntilAsync(() => !IsAlive(childPid), "the background child is gone too");
    }

    [Fact]
    public async Task Timeouts_and_durations_are_on_the_agents_clock()
    {
        // In-process handlers: one waits on its token alone (only the timeout ends it), one until the test releases it.
        var started = 0;
        var release = new TaskCompletionSource<JobHandlerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new DelegateHandler(async (job, ct) =>
        {
            Interlocked.Increment(ref started);
            if (job.JobId == "j-hang")
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }

            return await release.Task.WaitAsync(ct);
        });
        var (hub, run, _) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-hang", Hello, timeoutMs: 5_000));
        await connection.SendAsync(hub.CreateJob("j-done", Hello, timeoutMs: 5_000));
        await Wait.UntilAsync(() => Volatile.Read(ref started) == 2, "both handlers running");

        Time.Advance(TimeSpan.FromMilliseconds(4_999));
        release.SetResult(new JobHandlerResult(0));
        var done = await ResultAsync(connection, "j-done");
        Assert.Equal(JobOutcome.Completed, done.Outcome);
        Assert.Equal(4_999u, done.DurationMs);
        await Wait.SettleAsync();
        Assert.Null(connection.ResultOf("j-hang"));
        Assert.Equal(1, run.Agent.JobsInFlight);

        Time.Advance(TimeSpan.FromMilliseconds(1));
        var hung = await ResultAsync(connection, "j-hang");
        Assert.Equal(JobOutcome.TimedOut, hung.Outcome);
        Assert.Equal(-1, hung.ExitCode);
        Assert.Equal("killed at the timeout of 5000 ms", hung.Error);
        Assert.Equal(5_000u, hung.DurationMs);
        await Wait.UntilAsync(() => run.Events.All.Any(e => e.Kind == AgentEventKind.JobFinished && e.JobId == "j-hang" && e.Outcome == JobOutcome.TimedOut),
            "the job-finished event, timed out");
    }

    [Fact]
    public async Task Cancel_kills_a_running_job_and_reports_cancelled_and_unknown_cancels_are_ignored()
    {
        var handler = new ProcessJobHandler("sleep 60");
        var (hub, run, _) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(new JobCancel("j-unknown", 1, "never sent"));
        await connection.SendAsync(hub.CreateJob("j-long", Hello));
        await Wait.UntilAsync(() => run.Agent.JobsInFlight == 1 && connection.JobMessages.Count == 1, "running");
        await connection.SendAsync(new JobCancel("j-long", 2, "other attempt: ignored"));
        await Wait.SettleAsync();
        Assert.Equal(1, run.Agent.JobsInFlight);

        await connection.SendAsync(new JobCancel("j-long", 1, "cancelled by the user"));
        var result = await ResultAsync(connection, "j-long");
        Assert.Equal(JobOutcome.Cancelled, result.Outcome);
        Assert.Equal(137, result.ExitCode); // 128 + SIGKILL
        Assert.Equal(1, hub.ConnectionCount);
        Assert.False(connection.Closed);

        // A cancel for a job that already ended: its result stands and goes again.
        await connection.SendAsync(new JobCancel("j-long", 1, "again"));
        await Wait.UntilAsync(() => connection.Results.Count == 2, "result sent again");
        Assert.Equal(JobOutcome.Cancelled, connection.Results[1].Outcome);
    }

    [Fact]
    public async Task After_a_reconnect_running_jobs_are_reannounced_and_unacked_results_resent_until_acked()
    {
        var release = new TaskCompletionSource<JobHandlerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new DelegateHandler((job, ct) => job.JobId == "j-slow"
            ? new ValueTask<JobHandlerResult>(release.Task.WaitAsync(ct))
            : ValueTask.FromResult(new JobHandlerResult(7)));
        var (hub, run, _) = StartJobAgent(handler);
        var first = await ConnectedAsync(hub);

        // No timeout: the reconnects below move the fake clock by up to a minute.
        await first.SendAsync(hub.CreateJob("j-slow", Hello, timeoutMs: 0));
        await first.SendAsync(hub.CreateJob("j-fast", Hello));
        await ResultAsync(first, "j-fast");
        await Wait.UntilAsync(() => run.Agent.JobsInFlight == 1, "j-slow running");

        first.Abort();
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 2, "reconnected", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1));
        var second = hub.Connections[1];
        await Wait.UntilAsync(() => second.JobMessages.Count >= 2, "re-announce");
        var accepted = Assert.IsType<JobAccepted>(second.JobMessages[0]);
        Assert.Equal(("j-slow", 1u), (accepted.JobId, accepted.Attempt));
        var resent = Assert.IsType<JobResult>(second.JobMessages[1]);
        Assert.Equal(("j-fast", 7), (resent.JobId, resent.ExitCode));

        await second.SendAsync(new JobResultAck("j-fast", 1));
        await Wait.UntilAsync(() => run.Agent.UnackedResults == 0, "j-fast acknowledged");
        release.SetResult(new JobHandlerResult(0));
        await ResultAsync(second, "j-slow");

        second.Abort();
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 3, "reconnected again", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1));
        var third = hub.Connections[2];
        await Wait.UntilAsync(() => third.JobMessages.Count >= 1, "resend on the third session");
        await Wait.SettleAsync();
        var only = Assert.IsType<JobResult>(Assert.Single(third.JobMessages));
        Assert.Equal("j-slow", only.JobId);
    }

    [Theory]
    [InlineData("../../etc/passwd", "")]
    [InlineData("/abs/path", "")]
    [InlineData("a\0b", "")]
    [InlineData("..", "")]
    [InlineData("report.PDF", ".PDF")]
    [InlineData("archive.tar.gz", ".gz")]
    [InlineData("x.sh;rm -rf", "")]
    [InlineData("../../x.py", ".py")]
    [InlineData("LONG", "")]
    public async Task File_names_from_the_network_never_reach_the_file_system(string fileName, string extension)
    {
        if (fileName == "LONG")
        {
            fileName = new string('a', 10_000) + "/../../" + new string('b', 100);
        }

        JobContext? seen = null;
        var handler = new DelegateHandler((job, _) =>
        {
            seen = job;
            return ValueTask.FromResult(JobHandlerResult.Success);
        });
        var (hub, _, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-name", Hello, fileName: fileName));
        var result = await ResultAsync(connection, "j-name");

        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Equal(fileName, seen!.FileName);
        Assert.Equal(Path.Combine(workDir, "j-name-1", "input" + extension), seen.FilePath);
        Assert.Equal(Hello, await File.ReadAllBytesAsync(seen.FilePath));
        AssertOnlyUnder(workDir);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("../../etc")]
    [InlineData("a/b")]
    [InlineData("/abs")]
    [InlineData("..")]
    [InlineData("with space")]
    [InlineData("j:colon")]
    [InlineData("LONG")]
    public async Task Job_ids_from_the_network_never_reach_the_file_system(string jobId)
    {
        if (jobId == "LONG")
        {
            jobId = new string('j', 129);
        }

        JobContext? seen = null;
        var handler = new DelegateHandler((job, _) =>
        {
            seen = job;
            return ValueTask.FromResult(JobHandlerResult.Success);
        });
        var (hub, _, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob(jobId, Hello, fileName: "../" + jobId));
        await ResultAsync(connection, jobId);

        Assert.Equal(jobId, seen!.JobId);
        Assert.Equal(workDir, Path.GetDirectoryName(seen.JobDirectory));
        var name = Path.GetFileName(seen.JobDirectory);
        Assert.Matches("^(\\.\\.|h-[0-9a-f]{32})-1$", name);
        AssertOnlyUnder(workDir);
    }

    [Fact]
    public async Task Placeholders_are_replaced_inside_arguments_and_DROVER_variables_are_set()
    {
        const string Script = "import json,os,sys; json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': {k: v for k, v in os.environ.items() if k.startswith('DROVER_')}}, open(os.environ['DROVER_OUT'], 'w'))";
        var handler = new ProcessJobHandler($"python3 -c \"{Script}\" {{file}} --out={{out}} '{{job}} #{{attempt}}' {{unknown}}");
        var (hub, _, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-env", Hello, attempt: 3, fileName: "../data.csv", args: "--fast \"x y\""));
        var result = await ResultAsync(connection, "j-env", 3);

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.OutFile);
        var root = json.RootElement;
        var jobDir = Path.Combine(workDir, "j-env-3");
        var file = Path.Combine(jobDir, "input.csv");
        var outPath = Path.Combine(jobDir, "out");
        Assert.Equal([file, "--out=" + outPath, "j-env #3", "{unknown}"], root.GetProperty("argv").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(jobDir, root.GetProperty("cwd").GetString());
        var env = root.GetProperty("env");
        Assert.Equal("j-env", env.GetProperty("DROVER_JOB_ID").GetString());
        Assert.Equal("3", env.GetProperty("DROVER_ATTEMPT").GetString());
        Assert.Equal(file, env.GetProperty("DROVER_FILE").GetString());
        Assert.Equal(outPath, env.GetProperty("DROVER_OUT").GetString());
        Assert.Equal("../data.csv", env.GetProperty("DROVER_FILE_NAME").GetString());
        Assert.Equal("--fast \"x y\"", env.GetProperty("DROVER_ARGS").GetString());
        Assert.Equal("test-agent", env.GetProperty("DROVER_AGENT_ID").GetString());
        Assert.Equal(jobDir, env.GetProperty("DROVER_JOB_DIR").GetString());
    }

    [Fact]
    public async Task With_a_shell_placeholders_are_single_quoted_so_hostile_values_stay_text()
    {
        var handler = new ProcessJobHandler("printf '%s|' {job} {attempt} > {out}; echo \"$DROVER_ATTEMPT\" | tr 0-9 a-j", useShell: true);
        var (hub, _, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);
        const string Hostile = "it's $(touch pwned) `touch pwned2`; touch pwned3";

        await connection.SendAsync(hub.CreateJob(Hostile, Hello, attempt: 2));
        var result = await ResultAsync(connection, Hostile, 2);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Hostile + "|2|", Text(result.OutFile));
        Assert.Equal("c\n", Text(result.StdoutTail));
        Assert.Empty(Directory.EnumerateFileSystemEntries(workDir, "pwned*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Without_a_shell_the_template_is_split_with_quotes_and_each_value_stays_one_argument()
    {
        var handler = new ProcessJobHandler("""tool --in={file} "two words" 'lit {out}' a\ b {job}""");
        var context = new JobContext
        {
            JobId = "id with space",
            Attempt = 1,
            FileName = "f",
            FilePath = "/w/j-1/input",
            OutPath = "/w/j-1/out",
            JobDirectory = "/w/j-1",
            Args = string.Empty,
            Timeout = TimeSpan.FromSeconds(1),
            AgentId = "a",
            OutputTailBytes = 10,
        };

        Assert.Equal(["tool", "--in=/w/j-1/input", "two words", "lit /w/j-1/out", "a b", "id with space"], handler.BuildArgv(context));
        Assert.Equal(["/bin/sh", "-c", "cat '/w/j-1/input' > 'it'\\''s'"], new ProcessJobHandler("cat {file} > {job}", useShell: true).BuildArgv(context with { JobId = "it's" }));
        Assert.Throws<ArgumentException>(() => new ProcessJobHandler("tool 'unclosed"));
        Assert.Throws<ArgumentException>(() => new ProcessJobHandler("   "));
    }

    [Fact]
    public async Task A_handler_that_cannot_start_is_reported_as_start_failed()
    {
        var (hub, _, _) = StartJobAgent(new ProcessJobHandler("/nonexistent/drover-handler {file}"));
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-nostart", Hello));
        var result = await ResultAsync(connection, "j-nostart");

        Assert.Equal(JobOutcome.StartFailed, result.Outcome);
        Assert.Contains("could not start '/nonexistent/drover-handler'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_out_file_over_the_limit_is_not_sent_and_the_error_says_so()
    {
        var handler = new ProcessJobHandler("""sh -c 'head -c 100 /dev/zero > "$DROVER_OUT"'""");
        var (hub, _, _) = StartJobAgent(handler, o => o with { MaxOutFileBytes = 10 });
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-big-out", Hello));
        var result = await ResultAsync(connection, "j-big-out");

        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Equal(0, result.ExitCode);
        Assert.True(result.OutFile.IsEmpty);
        Assert.Equal("out file of 100 bytes is over the limit of 10", result.Error);
    }

    [Fact]
    public async Task Results_fit_the_hubs_frame_limit_and_job_frames_over_64_KiB_are_read()
    {
        // The hub reads 64 KiB frames; the out file (200 KB) would not fit, the 1 MiB input does arrive.
        var handler = new ProcessJobHandler("""sh -c 'head -c 200000 "$DROVER_FILE" > "$DROVER_OUT"; wc -c < "$DROVER_FILE"'""");
        var (hub, _, _) = StartJobAgent(handler, hubMaxFrameSize: ProtocolConstants.DefaultMaxFrameSize);
        var connection = await ConnectedAsync(hub);
        var content = new byte[1024 * 1024];
        Random.Shared.NextBytes(content);

        await connection.SendAsync(hub.CreateJob("j-large", content));
        var result = await ResultAsync(connection, "j-large");

        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Equal("1048576", Text(result.StdoutTail).Trim());
        Assert.True(result.OutFile.IsEmpty);
        Assert.StartsWith("out file of 200000 bytes is over the limit of 6", result.Error, StringComparison.Ordinal);
        Assert.True(result.PayloadSize <= ProtocolConstants.DefaultMaxFrameSize);
    }

    [Fact]
    public async Task A_result_that_still_does_not_fit_is_dropped_and_the_agent_stays_connected()
    {
        // A 1 KiB frame cap: the job id and a 2,000-character error alone do not fit, whatever the tails. The test
        // hub closes the connection on a frame over its cap, as the Drover hub does (bye FrameTooLarge).
        var longError = new string('e', 2000);
        var handler = new DelegateHandler((job, _) => ValueTask.FromResult(job.JobId == "j-huge"
            ? new JobHandlerResult(1) { Error = longError, StdoutTail = Encoding.UTF8.GetBytes("out"), StderrTail = Encoding.UTF8.GetBytes("err") }
            : JobHandlerResult.Success));
        var (hub, run, workDir) = StartJobAgent(handler, hubMaxFrameSize: 1024);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-huge", Hello));
        await Wait.UntilAsync(() => run.Agent.JobsAccepted == 1 && run.Agent.JobsInFlight == 0 && run.Agent.UnackedResults == 0,
            "the result that does not fit is forgotten");
        await Wait.UntilAsync(() => !Directory.Exists(Path.Combine(workDir, "j-huge-1")), "its job directory deleted");

        // Still the same session: the next job's result arrives on the first connection.
        await connection.SendAsync(hub.CreateJob("j-small", Hello));
        var result = await ResultAsync(connection, "j-small");
        Assert.Equal(JobOutcome.Completed, result.Outcome);
        Assert.Null(connection.ResultOf("j-huge"));
        Assert.Equal(1, hub.ConnectionCount);
        Assert.Equal(1, run.Agent.Sessions);
        Assert.Equal(AgentConnectionState.Connected, run.Agent.ConnectionState);

        // A reconnect re-announces nothing of it.
        await connection.SendAsync(new JobResultAck("j-small", 1));
        await Wait.UntilAsync(() => run.Agent.UnackedResults == 0, "j-small acknowledged");
        connection.Abort();
        await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == 2, "reconnected", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1));
        var second = await ConnectedAsync(hub, connections: 2);
        Assert.Empty(second.Results);
        Assert.Empty(second.ReceivedOf<JobAccepted>());
    }

    [Fact]
    public async Task Stopping_the_agent_kills_running_handlers()
    {
        var handler = new ProcessJobHandler("""sh -c 'echo $$ > self.pid; exec sleep 60'""");
        var (hub, run, workDir) = StartJobAgent(handler);
        var connection = await ConnectedAsync(hub);

        await connection.SendAsync(hub.CreateJob("j-stop", Hello));
        var pidFile = Path.Combine(workDir, "j-stop-1", "self.pid");
        await Wait.UntilAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0, "handler started");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(IsAlive(pid));

        await run.Cts.CancelAsync();
        await run.Run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(IsAlive(pid));
        Assert.Equal(0, run.Agent.JobsInFlight);
    }

    [Fact]
    public async Task An_agent_without_slots_answers_busy()
    {
        var hub = NewHub();
        StartAgent(Options(hub.Address));
        var connection = await ConnectedAsync(hub);
        Assert.Equal(0, connection.Hello!.JobSlots);

        await connection.SendAsync(hub.CreateJob("j-none", Hello));
        await Wait.UntilAsync(() => connection.ReceivedOf<JobBusy>().Count == 1, "busy");
        Assert.Contains("takes no jobs", connection.ReceivedOf<JobBusy>()[0].Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(connection.Statuses[0].Fields, f => f.Key == "jobs_in_flight");
    }

    private static bool TryReadPid(string path, out int pid)
    {
        pid = 0;
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), System.Globalization.CultureInfo.InvariantCulture, out pid);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool IsAlive(int pid)
    {
        // A zombie (exited, not yet reaped) counts as gone.
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            var state = text[(text.LastIndexOf(')') + 2)..][0];
            return state != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Everything the agent made is inside the work directory, and the work directory's parent holds
    /// nothing but it.</summary>
    private static void AssertOnlyUnder(string workDir)
    {
        var parent = Path.GetDirectoryName(workDir)!;
        Assert.Equal([workDir], Directory.GetFileSystemEntries(parent));
        foreach (var entry in Directory.EnumerateFileSystemEntries(workDir, "*", SearchOption.AllDirectories))
        {
            Assert.StartsWith(workDir + Path.DirectorySeparatorChar, Path.GetFullPath(entry), StringComparison.Ordinal);
        }
    }

    private sealed class DelegateHandler(Func<JobContext, CancellationToken, ValueTask<JobHandlerResult>> run) : IJobHandler
    {
        public ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken) => run(job, cancellationToken);
    }
}
