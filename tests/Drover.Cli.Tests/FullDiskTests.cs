using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Drover.Agent;
using Drover.TestUtilities;
using Xunit.Abstractions;

namespace Drover.Cli.Tests;

/// <summary>The hub's disk fills up, for real: a real <c>drover serve</c> child keeps its data on a small tmpfs the
/// test mounts (the test runs as root, as CI does; it fails, not skips, when it cannot mount), a filler file takes
/// most of the space, and 256 KiB jobs are submitted until one does not fit. In-process agents over real sockets run
/// the jobs. What is durable is checked in the hub's SQLite file at the end.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the field.")]
public sealed class FullDiskTests : IAsyncLifetime
{
    private const string Token = "t0k";
    private const int FileSize = 256 * 1024;
    private const int AgentCount = 3;
    private const int SlotsPerAgent = 2;

    private readonly string _dir = Directory.CreateTempSubdirectory("drover-disk-").FullName;
    private readonly List<DroverProcess> _processes = [];
    private readonly List<DroverAgent> _agents = [];
    private readonly List<Task> _agentRuns = [];
    private HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(20) };
    private readonly ITestOutputHelper _output;
    private bool _mounted;

    public FullDiskTests(ITestOutputHelper output) => _output = output;

    private string Disk => Path.Combine(_dir, "disk");

    private string Filler => Path.Combine(Disk, "filler");

    /// <summary>Mounts an 8 MiB tmpfs: a disk that really fills. Needs root; without it the test fails saying so.</summary>
    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Disk);
        var (exit, text) = await RunAsync("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", Disk);
        if (exit != 0)
        {
            throw new InvalidOperationException(
                $"FullDiskTests need root: they mount a small tmpfs to fill a real disk, and 'mount -t tmpfs -o size=8m tmpfs {Disk}' failed " +
                $"(exit {exit}): {text.Trim()}. Run the tests as root (CI does), or in a container with CAP_SYS_ADMIN.");
        }

        _mounted = true;
    }

    /// <summary>xunit v2 calls <see cref="IAsyncLifetime.DisposeAsync"/> (not IAsyncDisposable) on test classes. The tmpfs
    /// is unmounted whatever happened, after everything that may hold a file on it is gone.</summary>
    public async Task DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await Task.WhenAll(_agentRuns).WaitAsync(TimeSpan.FromSeconds(15));
        foreach (var process in _processes)
        {
            // The hub's last lines, to read when the test failed.
            var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            _output.WriteLine($"--- last {Math.Min(lines.Length, 30)} of {lines.Length} hub log lines ---");
            foreach (var line in lines.TakeLast(30))
            {
                _output.WriteLine(line.Length > 400 ? line[..400] + "…" : line);
            }

            await process.DisposeAsync();
        }

        _http.Dispose();
        if (_mounted)
        {
            var (exit, text) = await RunAsync("umount", Disk);
            if (exit != 0)
            {
                // Something still holds a file there: detach it now, the kernel frees it when the last user goes.
                (exit, text) = await RunAsync("umount", "-l", Disk);
            }

            Assert.True(exit == 0, $"umount {Disk} failed: {text}");
        }

        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    [Fact]
    public async Task FullDisk_the_submission_that_does_not_fit_gets_507_nothing_accepted_is_lost_agents_stay_and_the_hub_recovers_without_restart()
    {
        var total = Stopwatch.StartNew();
        var data = Path.Combine(Disk, "hub");
        var serve = DroverProcess.Start(
            "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", data, "--token", Token,
            "--interval", "1s", "--disconnect-grace", "60s");
        _processes.Add(serve);
        var listening = await serve.WaitForLineAsync(EndToEndTests.ServeListening, TimeSpan.FromSeconds(30));
        var port = int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture);
        var api = listening.Groups[2].Value;
        _http.Dispose();
        _http = ApiClients.ForHub(api, data, timeout: TimeSpan.FromSeconds(20));

        // Agents whose jobs wait for the gate: what is accepted before the disk fills is still queued or running
        // while it is full, so its leases and results have to be committed then.
        var handler = new GatedHandler();
        for (var i = 1; i <= AgentCount; i++)
        {
            var agent = new DroverAgent(new AgentOptions
            {
                Hubs = [$"127.0.0.1:{port}"],
                AgentId = $"disk-{i}",
                Trust = HubTrust.FromAuthorityFile(Path.Combine(data, "tls", "ca.pem")), // the hub's own CA
                Token = Token,
                JobHandler = handler,
                JobSlots = SlotsPerAgent,
                WorkDirectory = Path.Combine(_dir, $"work-{i}"),
                IncludeSystemMetrics = false,
                BackoffBase = TimeSpan.FromMilliseconds(200),
                BackoffCap = TimeSpan.FromSeconds(2),
            });
            _agents.Add(agent);
            _agentRuns.Add(agent.RunAsync(CancellationToken.None));
        }

        await Poll.UntilAsync(() => OnlineAgentsAsync(api), n => n == AgentCount, TimeSpan.FromSeconds(20), "every agent online");

        // Most of the space goes to a filler file, so that a few jobs fill the rest.
        var free = FillUntil(2 * 1024 * 1024);
        _output.WriteLine($"filler written: {new FileInfo(Filler).Length / 1024} KiB; {free / 1024} KiB free on the tmpfs");

        // Single-file jobs until one does not fit (bounded: the space left holds far fewer than 40).
        var accepted = new List<string>();
        var (refused, acceptedBig) = await SubmitUntilRefusedAsync(api, FileSize, accepted);
        _output.WriteLine($"{acceptedBig} jobs of {FileSize / 1024} KiB accepted, then {(int)refused.Status}: {refused.Text}");
        Assert.True(refused.Status == HttpStatusCode.InsufficientStorage, $"the submission that did not fit was answered {(int)refused.Status}, not 507: {refused.Text}");
        var message = ErrorOf(refused.Text);
        Assert.Contains("disk is full", message, StringComparison.Ordinal);
        Assert.Contains("the job was not accepted", message, StringComparison.Ordinal);
        Assert.True(acceptedBig >= 2, $"only {acceptedBig} jobs fitted before the disk filled");

        // The file system is full now, but SQLite reuses what the failed write left in its log: smaller jobs still fit
        // there, and so would status and results. Fill that too, with smaller and smaller jobs, until nothing fits.
        foreach (var size in new[] { 16 * 1024, 1 })
        {
            var (smallRefused, smallAccepted) = await SubmitUntilRefusedAsync(api, size, accepted);
            _output.WriteLine($"then {smallAccepted} jobs of {size} bytes accepted, then {(int)smallRefused.Status}");
            Assert.True(smallRefused.Status == HttpStatusCode.InsufficientStorage, $"a {size}-byte submission on a full disk was answered {(int)smallRefused.Status}: {smallRefused.Text}");
        }

        var topped = TopUpUntilFull();
        _output.WriteLine($"filler topped up by {topped} bytes: {new DriveInfo(Disk).AvailableFreeSpace} bytes free");

        // While full: a multipart request of several files is refused whole, and the hub keeps serving.
        var (multiStatus, multiText, _) = await SubmitMultipartAsync(api, 3, FileSize);
        Assert.True(multiStatus == HttpStatusCode.InsufficientStorage, $"a multipart submission on a full disk was answered {(int)multiStatus}: {multiText}");

        var sessionsBefore = _agents.Sum(a => a.Sessions);
        var seqBefore = await StatusSeqsAsync(api);
        handler.Open();
        var fullFor = Stopwatch.StartNew();
        var checks = 0;
        while (fullFor.Elapsed < TimeSpan.FromSeconds(4))
        {
            using (var health = await _http.GetAsync(new Uri(api + "healthz")))
            {
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            }

            var online = await OnlineAgentsAsync(api);
            Assert.True(online == AgentCount, $"{online} of {AgentCount} agents online {fullFor.Elapsed.TotalSeconds:F1} s into the full disk");
            Assert.False(serve.HasExited, "the hub exited on a full disk:\n" + serve.Output);
            checks++;
            await Task.Delay(250);
        }

        var seqAfter = await StatusSeqsAsync(api);
        var reconnects = _agents.Sum(a => a.Sessions) - sessionsBefore;
        var doneWhileFull = (await GetJsonAsync(api + "api/stats")).GetProperty("jobs").GetProperty("done").GetInt32();
        _output.WriteLine($"4 s on a full disk with the jobs released: {checks} checks, all {AgentCount} agents online each time, {reconnects} reconnects; " +
            $"handler runs {handler.Runs}, results committed {doneWhileFull} (the rest wait for space)");
        Assert.All(seqAfter, s => Assert.True(s.Value > seqBefore[s.Key], $"{s.Key} reported nothing new while the disk was full ({seqBefore[s.Key]} -> {s.Value})"));
        Assert.Equal(0, reconnects);

        // Free the space: the hub recovers without a restart.
        File.Delete(Filler);
        var recovery = Stopwatch.StartNew();
        var extra = await Poll.UntilAsync(
            () => SubmitAsync(api, "after.bin", FileSize),
            r => r.Status == HttpStatusCode.Created,
            TimeSpan.FromSeconds(20),
            "a submission after the filler was deleted",
            TimeSpan.FromMilliseconds(100));
        var acceptedAgain = recovery.Elapsed;
        accepted.AddRange(extra.Ids);

        foreach (var id in accepted)
        {
            await Poll.UntilAsync(() => JobStateAsync(api, id), s => s is "done" or "dead", TimeSpan.FromSeconds(30), $"job {id} to end", TimeSpan.FromMilliseconds(100));
        }

        var allDone = recovery.Elapsed;
        foreach (var id in accepted)
        {
            Assert.Equal("done", await JobStateAsync(api, id));
        }

        Assert.Equal(AgentCount, await OnlineAgentsAsync(api));

        // The status write-behind failed while the disk was full (it is what proves the agents were kept through it)
        // and writes again by itself.
        Assert.Contains("Drover.Hub.Status.StatusWriter[400] Status write of", serve.Output, StringComparison.Ordinal);
        await serve.WaitForLineAsync(@"Status writes recovered after \d+ failures", TimeSpan.FromSeconds(15));
        var statusAgain = recovery.Elapsed;
        _output.WriteLine($"after the filler was deleted: a new submission accepted in {acceptedAgain.TotalMilliseconds:F0} ms, all {accepted.Count} jobs done in {allDone.TotalMilliseconds:F0} ms, status written again in {statusAgain.TotalMilliseconds:F0} ms");

        // The log says what is wrong, once per streak rather than once per write, and says when it recovered.
        var log = serve.Output.Split('\n');
        var fullLines = log.Where(l => l.Contains("full", StringComparison.OrdinalIgnoreCase)).ToList();
        foreach (var line in fullLines)
        {
            _output.WriteLine("hub log: " + (line.Length > 300 ? line[..300] + "…" : line));
        }

        foreach (var line in log.Where(l => l.Contains("recovered", StringComparison.Ordinal)))
        {
            _output.WriteLine("hub log: " + line);
        }

        Assert.NotEmpty(fullLines);
        Assert.True(fullLines.Count <= 8, $"{fullLines.Count} log lines about the full disk: a flood");

        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());

        // Durable state: exactly the accepted jobs, each done with one result, and a sound file.
        using var db = new HubDatabase(data);
        Assert.Equal("ok", db.Scalar("PRAGMA integrity_check"));
        Assert.Equal(accepted.Order(StringComparer.Ordinal), db.Rows("SELECT id FROM jobs ORDER BY id").Select(r => (string)r[0]!));
        Assert.Equal(accepted.Count, db.Count("SELECT COUNT(*) FROM jobs WHERE state = 'done'"));
        Assert.Equal(accepted.Count, db.Count("SELECT COUNT(*) FROM job_results r JOIN jobs j ON j.id = r.job_id WHERE r.attempt = j.attempt AND r.outcome = 'completed' AND r.exit_code = 0"));
        Assert.Equal(accepted.Count, db.Count("SELECT COUNT(*) FROM job_results"));
        Assert.Equal(accepted.Count, db.Count("SELECT COUNT(*) FROM jobs j JOIN contents c ON c.id = j.content_id AND c.sha256 = j.sha256"));
        Assert.Equal(accepted.Count, db.Count("SELECT SUM(jobs) FROM content_holders"));
        Assert.Equal(AgentCount, db.Count("SELECT COUNT(*) FROM agents"));
        Assert.All(accepted, id => Assert.Equal(1, handler.RunsOf(id)));
        _output.WriteLine($"store: {accepted.Count} jobs, all done, one result each; integrity ok; whole test {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(60), $"took {total.Elapsed}");
    }

    /// <summary>Submits single-file jobs of <paramref name="size"/> bytes (at most 40) until one is refused; adds the
    /// accepted ids to <paramref name="accepted"/>. Returns the refusal and how many were accepted.</summary>
    private async Task<((HttpStatusCode Status, string Text) Refused, int Accepted)> SubmitUntilRefusedAsync(string api, int size, List<string> accepted)
    {
        for (var n = 0; n < 40; n++)
        {
            var (status, text, ids) = await SubmitAsync(api, $"s{size}-{n}.bin", size);
            if (status != HttpStatusCode.Created)
            {
                return ((status, text), n);
            }

            accepted.AddRange(ids);
        }

        throw new InvalidOperationException($"40 jobs of {size} bytes fitted: the disk never filled");
    }

    /// <summary>Grows the filler file until at most <paramref name="leave"/> bytes are free; returns the bytes free.</summary>
    private long FillUntil(long leave)
    {
        var chunk = new byte[64 * 1024];
        using var file = new FileStream(Filler, FileMode.Append, FileAccess.Write);
        var drive = new DriveInfo(Disk);
        while (drive.AvailableFreeSpace > leave)
        {
            file.Write(chunk, 0, (int)Math.Min(chunk.Length, drive.AvailableFreeSpace - leave));
            file.Flush();
        }

        return drive.AvailableFreeSpace;
    }

    /// <summary>Appends to the filler file until the file system refuses (ENOSPC); returns the bytes it took.</summary>
    private long TopUpUntilFull()
    {
        var chunk = new byte[4096];
        long written = 0;
        using var file = new FileStream(Filler, FileMode.Append, FileAccess.Write, FileShare.None, bufferSize: 1);
        try
        {
            while (written < 16 * 1024 * 1024)
            {
                file.Write(chunk);
                file.Flush();
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            // No space left on device: the disk is full.
        }

        return written;
    }

    private async Task<(HttpStatusCode Status, string Text, List<string> Ids)> SubmitAsync(string api, string name, int size)
    {
        using var body = new ByteArrayContent(Content(name, size));
        using var response = await _http.PostAsync(new Uri($"{api}api/jobs?timeout=60s&retries=0&name={name}"), body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text, Ids(response.StatusCode, text));
    }

    private async Task<(HttpStatusCode Status, string Text, List<string> Ids)> SubmitMultipartAsync(string api, int files, int size)
    {
        const string Boundary = "drover-disk-boundary";
        using var body = new MemoryStream();
        for (var i = 0; i < files; i++)
        {
            body.Write(Encoding.UTF8.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m{i}.bin\"\r\n\r\n"));
            body.Write(Content($"m{i}", size));
            body.Write("\r\n"u8);
        }

        body.Write(Encoding.UTF8.GetBytes($"--{Boundary}--\r\n"));
        using var request = new ByteArrayContent(body.ToArray());
        request.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        using var response = await _http.PostAsync(new Uri(api + "api/jobs?timeout=60s&retries=0"), request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text, Ids(response.StatusCode, text));
    }

    /// <summary>Incompressible bytes (tmpfs does not compress, but the content should not matter anyway).</summary>
    private static byte[] Content(string name, int size)
    {
        var bytes = new byte[size];
        new Random(name.GetHashCode(StringComparison.Ordinal)).NextBytes(bytes);
        return bytes;
    }

    private static List<string> Ids(HttpStatusCode status, string text) =>
        status == HttpStatusCode.Created
            ? JsonDocument.Parse(text).RootElement.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToList()
            : [];

    private static string ErrorOf(string text)
    {
        try
        {
            return JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString() ?? text;
        }
        catch (JsonException)
        {
            return text;
        }
    }

    private async Task<JsonElement> GetJsonAsync(string url)
    {
        using var response = await _http.GetAsync(new Uri(url));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {url} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<int> OnlineAgentsAsync(string api) =>
        (await GetJsonAsync(api + "api/agents?state=online")).GetProperty("items").GetArrayLength();

    /// <summary>The last status sequence number the hub holds for each agent.</summary>
    private async Task<Dictionary<string, long>> StatusSeqsAsync(string api) =>
        (await GetJsonAsync(api + "api/agents")).GetProperty("items").EnumerateArray().ToDictionary(
            a => a.GetProperty("id").GetString()!,
            a => a.GetProperty("status") is { ValueKind: JsonValueKind.Object } s ? s.GetProperty("seq").GetInt64() : -1);

    private async Task<string> JobStateAsync(string api, string id) =>
        (await GetJsonAsync(api + "api/jobs/" + id)).GetProperty("state").GetString()!;

    private static async Task<(int ExitCode, string Text)> RunAsync(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await output + await error);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, $"cannot run {file}: {ex.Message}");
        }
    }

    /// <summary>Holds every job until <see cref="Open"/>, then finishes each at once; counts runs per job.</summary>
    private sealed class GatedHandler : IJobHandler
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentDictionary<string, int> _runs = new(StringComparer.Ordinal);
        private int _total;

        public int Runs => Volatile.Read(ref _total);

        public int RunsOf(string id) => _runs.GetValueOrDefault(id);

        public void Open() => _gate.TrySetResult();

        public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _total);
            _runs.AddOrUpdate(job.JobId, 1, (_, n) => n + 1);
            await _gate.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return JobHandlerResult.Success;
        }
    }
}
