using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Drover.Api;
using Drover.Hub.Http;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The job endpoints over real HTTP on 127.0.0.1, with a real SQLite file. The hub's file size
/// limit is 1 KiB here so that oversized files are cheap to send.</summary>
public sealed class JobsApiTests : IAsyncLifetime
{
    private const int FileLimit = 1024;
    private const string Limit413 = "is over the limit of 1 KiB (1024 bytes); the hub's --max-file-size sets it";

    private HubFixture _fixture = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        // The seeded jobs finished in 2025: keep finished jobs for a century, or the sweep's first prune (a second after
        // start) deletes them while a slow test still reads them.
        _fixture = await HubFixture.StartAsync(o => o with { MaxFileSize = FileLimit, MaxQueuedJobs = 5, KeepFinishedJobs = TimeSpan.FromDays(36_500) });
        _http = _fixture.CreateApiClient();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _fixture.DisposeAsync();
    }

    /// <summary>An RFC 7807 answer of <paramref name="code"/>; <paramref name="says"/>, when given, is the part of the detail
    /// that tells this cause from the others of the same code (the theories' rows).</summary>
    internal static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? says = null)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(ApiProblem.MediaType, response.Content.Headers.ContentType?.MediaType);
        var body = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ApiProblem))!;
        Assert.Equal(code, body.Code);
        Assert.Equal(ProblemCodes.TypePrefix + code, body.Type);
        Assert.Equal((int)status, body.Status);
        Assert.False(string.IsNullOrWhiteSpace(body.Detail));
        if (says is not null)
        {
            Assert.Contains(says, body.Detail, StringComparison.Ordinal);
        }
    }

    private Task<HttpResponseMessage> PostFileAsync(string query, byte[] content) =>
        _http.PostAsync("api/jobs" + query, new ByteArrayContent(content));

    private static ByteArrayContent Multipart(string boundary, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body.ReplaceLineEndings("\r\n")));
        content.Headers.TryAddWithoutValidation("Content-Type", $"multipart/form-data; boundary={boundary}");
        return content;
    }

    // ---- Submission: validation (answered before the dispatcher is involved) ----

    [Theory]
    [InlineData("somewhere", "to 'somewhere' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:", "to 'label:' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:role", "to 'label:role' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:=web", "to 'label:=web' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("RANDOM", "to 'RANDOM' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("agent:", "to 'agent:' does not name a valid agent: agent id is empty")]
    [InlineData("agent:bad id", "to 'agent:bad id' does not name a valid agent: agent id has the character U+0020; allowed are A-Z a-z 0-9 . _ : @ -")]
    public async Task A_bad_target_is_400(string to, string error)
    {
        using var response = await PostFileAsync("?to=" + Uri.EscapeDataString(to), [1, 2, 3]);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: error);
    }

    [Theory]
    [InlineData("5x", "timeout '5x' is not a duration; use for example 250ms, 30s, 5m, 1h or 7d (a bare number is seconds)")]
    [InlineData("-1s", "timeout '-1s' is not a duration; use for example 250ms, 30s, 5m, 1h or 7d (a bare number is seconds)")]
    [InlineData("", "timeout '' is not a duration; use for example 250ms, 30s, 5m, 1h or 7d (a bare number is seconds)")]
    [InlineData("0", "timeout must be more than 0 and at most 24h, got '0'")]
    [InlineData("0ms", "timeout must be more than 0 and at most 24h, got '0ms'")]
    [InlineData("25h", "timeout must be more than 0 and at most 24h, got '25h'")]
    [InlineData("86401", "timeout must be more than 0 and at most 24h, got '86401'")]
    public async Task A_bad_timeout_is_400(string timeout, string error)
    {
        using var response = await PostFileAsync("?timeout=" + Uri.EscapeDataString(timeout), [1]);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: error);
    }

    [Theory]
    [InlineData("retries=-1", "retries must be a whole number from 0 to 100, got '-1'")]
    [InlineData("retries=101", "retries must be a whole number from 0 to 100, got '101'")]
    [InlineData("retries=two", "retries must be a whole number from 0 to 100, got 'two'")]
    [InlineData("retries=1.5", "retries must be a whole number from 0 to 100, got '1.5'")]
    [InlineData("priority=high", "priority must be a whole number, got 'high'")]
    [InlineData("priority=99999999999", "priority must be a whole number, got '99999999999'")]
    [InlineData("args=a%00b", "args cannot contain a NUL character")]
    [InlineData("to=random&to=least-loaded", "query parameter 'to' is given more than once")]
    [InlineData("timeoutt=5s", "unknown query parameter 'timeoutt'; the parameters are name, to, args, timeout, retries, priority")]
    public async Task Bad_retries_priority_args_or_a_repeated_or_unknown_parameter_is_400(string query, string error)
    {
        using var response = await PostFileAsync("?" + query, [1]);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: error);
    }

    [Fact]
    public async Task Args_over_8_KiB_are_400()
    {
        using var response = await PostFileAsync("?args=" + new string('a', 8193), [1]);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter);
    }

    [Fact]
    public async Task An_empty_body_is_400()
    {
        using var response = await PostFileAsync(string.Empty, []);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task An_oversized_file_with_a_content_length_is_413_naming_the_file_and_the_limit()
    {
        using var response = await PostFileAsync("?name=big.bin", new byte[FileLimit + 1]);
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge);
    }

    [Fact]
    public async Task An_oversized_chunked_file_without_a_content_length_is_413()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs?name=dir/stream.bin") { Content = new StreamContent(new MemoryStream(new byte[64 * FileLimit])) };
        request.Headers.TransferEncodingChunked = true;
        using var response = await _http.SendAsync(request);
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge);
    }

    [Fact]
    public async Task A_file_of_exactly_the_limit_passes_the_size_check()
    {
        // It passes validation and reaches the dispatcher; whatever that answers, it is not 413 or 400.
        using var response = await PostFileAsync("?name=edge.bin", new byte[FileLimit]);
        Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.NotEqual(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task An_oversized_file_at_the_default_limit_of_1_MiB_is_413()
    {
        await using var hub = await HubFixture.StartAsync();
        using var http = hub.CreateApiClient();
        using var response = await http.PostAsync("api/jobs", new ByteArrayContent(new byte[(2 * 1024 * 1024) + 5]));
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge);
    }

    [Fact]
    public async Task An_oversized_multipart_part_is_413_naming_the_part()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(new byte[10]), "file", "a.bin");
        form.Add(new ByteArrayContent(new byte[FileLimit + 1]), "file", "b.bin");
        form.Add(new ByteArrayContent(new byte[10]), "file", "c.bin");
        using var response = await _http.PostAsync("api/jobs", form);
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge);
    }

    [Fact]
    public async Task More_files_than_the_queue_holds_is_413()
    {
        using var form = new MultipartFormDataContent();
        for (var i = 0; i < 6; i++)
        {
            form.Add(new ByteArrayContent([(byte)i]), "file", $"{i}.bin");
        }

        using var response = await _http.PostAsync("api/jobs", form);
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge);
    }

    [Fact]
    public async Task Multipart_without_a_boundary_is_400()
    {
        var content = new ByteArrayContent(Encoding.ASCII.GetBytes("--x\r\n\r\nabc\r\n--x--\r\n"));
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data");
        using var response = await _http.PostAsync("api/jobs", content);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task Multipart_other_than_form_data_is_400()
    {
        var content = new ByteArrayContent(Encoding.ASCII.GetBytes("--x\r\n\r\nabc\r\n--x--\r\n"));
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/mixed; boundary=x");
        using var response = await _http.PostAsync("api/jobs", content);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task A_truncated_multipart_body_is_400()
    {
        using var response = await _http.PostAsync("api/jobs", Multipart("XyZ", """
            --XyZ
            Content-Disposition: form-data; name="file"; filename="a.txt"

            hello, and then the body stops
            """));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task A_body_that_never_shows_its_boundary_is_400()
    {
        using var response = await _http.PostAsync("api/jobs", Multipart("XyZ", "just some bytes, no parts at all"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task Multipart_part_headers_over_the_reader_limit_are_400()
    {
        using var response = await _http.PostAsync("api/jobs", Multipart("XyZ", $"""
            --XyZ
            Content-Disposition: form-data; name="file"; filename="{new string('a', 20_000)}"

            x
            --XyZ--

            """));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task A_multipart_body_with_no_parts_is_400()
    {
        using var response = await _http.PostAsync("api/jobs", Multipart("XyZ", "--XyZ--\n"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task A_multipart_part_that_is_not_a_file_is_400()
    {
        using var response = await _http.PostAsync("api/jobs", Multipart("XyZ", """
            --XyZ
            Content-Disposition: form-data; name="file"; filename="a.txt"

            one
            --XyZ
            Content-Disposition: form-data; name="comment"

            not a file
            --XyZ--

            """));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidBody);
    }

    [Fact]
    public async Task A_name_with_a_multipart_body_is_400()
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent([1]), "file", "a.bin" } };
        using var response = await _http.PostAsync("api/jobs?name=x.bin", form);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter);
    }

    [Fact]
    public async Task A_rejected_request_stores_nothing()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent([1]), "file", "a.bin");
        form.Add(new ByteArrayContent(new byte[FileLimit + 1]), "file", "b.bin");
        using var response = await _http.PostAsync("api/jobs", form);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(await _fixture.JobStore.ListJobsAsync(null, null, 10, null, CancellationToken.None));
    }

    // ---- Submission through the dispatcher (pass once JobDispatcher is merged) ----

    [Fact]
    public async Task A_submission_for_an_agent_that_is_not_connected_says_so_and_others_carry_no_warning()
    {
        using var ghost = await PostFileAsync("?name=a&to=agent:ghost&timeout=5m", [1]);
        Assert.Equal(HttpStatusCode.Created, ghost.StatusCode);
        var answer = await ghost.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse);
        Assert.Equal("agent 'ghost' has never connected to this hub; the jobs wait for it, and end dead if it does not connect within their timeout (5m)", answer!.Warning);

        using var anyone = await PostFileAsync("?name=b", [1]);
        Assert.Equal(HttpStatusCode.Created, anyone.StatusCode);
        var raw = await anyone.Content.ReadAsStringAsync();
        Assert.DoesNotContain("warning", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_single_file_is_201_with_id_size_hash_and_location_and_is_committed()
    {
        var content = Encoding.UTF8.GetBytes("print('hello')\n");
        using var response = await PostFileAsync("?name=" + Uri.EscapeDataString("../../etc/pass\0wd.py") + "&args=--fast&timeout=30s&retries=1&priority=7&to=label:role%3Dweb", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var answer = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse);
        var job = Assert.Single(answer!.Jobs);
        Assert.True(JobIds.IsWellFormed(job.Id));
        Assert.Equal("passwd.py", job.Name);
        Assert.Equal(content.Length, job.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), job.Sha256);
        Assert.Equal("/api/jobs/" + job.Id, response.Headers.Location?.OriginalString);

        // Committed before the answer: the store has it, as submitted.
        var stored = await _fixture.JobStore.GetJobAsync(job.Id, withContent: true, CancellationToken.None);
        Assert.NotNull(stored);
        Assert.Equal(content, stored.Content);
        Assert.Equal("label:role=web", stored.Target);
        Assert.Equal("--fast", stored.Args);
        Assert.Equal(TimeSpan.FromSeconds(30), stored.Timeout);
        Assert.Equal(1, stored.MaxRetries);
        Assert.Equal(7, stored.Priority);

        var view = await _http.GetFromJsonAsync("api/jobs/" + job.Id, ApiJsonContext.Default.JobView);
        Assert.Equal(job.Id, view!.Id);
        Assert.Equal("passwd.py", view.Name);
        Assert.Equal(30_000, view.TimeoutMs);
        Assert.Equal(1, view.Retries);
        Assert.Equal(7, view.Priority);
    }

    [Fact]
    public async Task A_single_file_gets_the_defaults()
    {
        using var response = await PostFileAsync(string.Empty, [42]);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs[0].Id;
        var view = await _http.GetFromJsonAsync("api/jobs/" + id, ApiJsonContext.Default.JobView);
        Assert.Equal("file", view!.Name);
        Assert.Equal("random", view.Target);
        Assert.Equal(300_000, view.TimeoutMs);
        Assert.Equal(2, view.Retries);
        Assert.Equal(0, view.Priority);
        Assert.Equal(string.Empty, view.Args);
    }

    [Fact]
    public async Task A_multipart_request_is_201_with_one_job_per_part_in_part_order()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes("one")), "file", "one.txt");
        form.Add(new ByteArrayContent([]), "file", "empty.txt");
        form.Add(new ByteArrayContent(new byte[FileLimit]), "file", "three.bin");
        using var response = await _http.PostAsync("api/jobs?priority=-3", form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Null(response.Headers.Location);
        var jobs = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs;
        Assert.Equal(["one.txt", "empty.txt", "three.bin"], jobs.Select(j => j.Name));
        Assert.Equal([3L, 0L, FileLimit], jobs.Select(j => j.Size));
        Assert.Equal(jobs.Select(j => j.Id).Order(StringComparer.Ordinal), jobs.Select(j => j.Id));

        var page = await _http.GetFromJsonAsync("api/jobs", ApiJsonContext.Default.JobPage);
        Assert.Equal(jobs.Select(j => j.Id), page!.Items.Select(j => j.Id));
        Assert.All(page.Items, j => Assert.Equal(-3, j.Priority));
    }

    [Fact]
    public async Task Over_the_queue_limit_is_503_with_retry_after_and_accepts_nothing()
    {
        using var first = new MultipartFormDataContent();
        for (var i = 0; i < 4; i++)
        {
            first.Add(new ByteArrayContent([(byte)i]), "file", $"{i}.bin");
        }

        using var accepted = await _http.PostAsync("api/jobs", first);
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);

        using var second = new MultipartFormDataContent();
        second.Add(new ByteArrayContent([1]), "file", "x.bin");
        second.Add(new ByteArrayContent([2]), "file", "y.bin");
        using var refused = await _http.PostAsync("api/jobs", second);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        await AssertErrorAsync(refused, HttpStatusCode.ServiceUnavailable, ProblemCodes.QueueFull);
        Assert.Equal(4, (await _fixture.JobStore.ListJobsAsync(null, null, 100, null, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Cancel_is_200_with_the_cancelled_job_then_409_and_404_for_an_unknown_job()
    {
        using var response = await PostFileAsync("?to=agent:nobody-here", [1, 2]);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs[0].Id;

        using var cancelled = await _http.DeleteAsync("api/jobs/" + id);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        var view = await cancelled.Content.ReadFromJsonAsync(ApiJsonContext.Default.JobView);
        Assert.Equal(JobStates.Cancelled, view!.State);
        Assert.Equal(id, view.Id);

        using var again = await _http.DeleteAsync("api/jobs/" + id);
        await AssertErrorAsync(again, HttpStatusCode.Conflict, ProblemCodes.Conflict);

        using var unknown = await _http.DeleteAsync("api/jobs/j-00000000000000000000000000");
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, ProblemCodes.NotFound);
    }

    [Fact]
    public async Task Stats_have_a_jobs_section()
    {
        using var response = await PostFileAsync("?to=agent:nobody-here", [1]);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var stats = await _http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        Assert.Equal(1, stats!.Jobs.Queued);
        Assert.Equal(0, stats.Jobs.Running + stats.Jobs.Done + stats.Jobs.Dead + stats.Jobs.Cancelled);
        Assert.Equal(1, stats.Jobs.SubmittedTotal);
        Assert.Equal(0, stats.Jobs.FinishedTotal);
    }

    [Fact]
    public async Task Agents_show_their_job_slots_and_jobs_in_flight()
    {
        var hello = RawProtocolClient.MakeHello("worker-1") with { JobSlots = 4 };
        await using var worker = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await worker.HandshakeAsync(hello));
        await using var watcher = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await watcher.HandshakeAsync(RawProtocolClient.MakeHello("watcher-1")));

        var page = await _http.GetFromJsonAsync("api/agents", ApiJsonContext.Default.AgentPage);
        var byId = page!.Items.ToDictionary(a => a.Id);
        Assert.Equal(4, byId["worker-1"].JobSlots);
        Assert.Equal(0, byId["worker-1"].JobsInFlight);
        Assert.Equal(0, byId["watcher-1"].JobSlots);
        Assert.Equal(0, byId["watcher-1"].JobsInFlight);
    }

    // ---- Reading (straight from the store; seeded through it) ----

    private async Task<JobRecord> SeedAsync(string name, byte[] content, DateTimeOffset at)
    {
        var job = new JobRecord
        {
            Id = new JobIds().Next(at),
            FileName = name,
            FileSize = content.Length,
            Sha256 = SHA256.HashData(content),
            Content = content,
            Target = "least-loaded",
            Args = "-v",
            Timeout = TimeSpan.FromSeconds(30),
            MaxRetries = 3,
            Priority = 5,
            SubmittedAt = at,
        };
        await _fixture.JobStore.SubmitAsync([job], CancellationToken.None);
        return job;
    }

    /// <summary>Three jobs: done on agent-a with a result and an out file, running on agent-b, queued.</summary>
    private async Task<(JobRecord Done, JobRecord Running, JobRecord Queued)> SeedThreeAsync()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);
        var done = await SeedAsync("done.py", [1, 2, 3], at);
        var running = await SeedAsync("running.py", [4], at.AddSeconds(1));
        var queued = await SeedAsync("queued.py", [5], at.AddSeconds(2));
        var store = _fixture.JobStore;
        Assert.True(await store.LeaseAsync(done.Id, "agent-a", 1, at.AddMinutes(1), CancellationToken.None));
        Assert.True(await store.LeaseAsync(running.Id, "agent-b", 1, at.AddMinutes(1), CancellationToken.None));
        var result = new JobResultRecord
        {
            JobId = done.Id,
            Attempt = 1,
            AgentId = "agent-a",
            Outcome = "completed",
            ExitCode = 0,
            DurationMs = 42,
            StdoutTail = [0x80, .. "ok ✓"u8],
            StderrTail = "warn"u8.ToArray(),
            OutFile = "result bytes"u8.ToArray(),
            RecordedAt = at.AddSeconds(5),
        };
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(result, success: true, CancellationToken.None));
        return (done, running, queued);
    }

    [Fact]
    public async Task A_job_is_shown_with_its_result_fields()
    {
        var (done, running, queued) = await SeedThreeAsync();

        var view = await _http.GetFromJsonAsync("api/jobs/" + done.Id, ApiJsonContext.Default.JobView);
        Assert.Equal(done.Id, view!.Id);
        Assert.Equal(JobStates.Done, view.State);
        Assert.Equal("done.py", view.Name);
        Assert.Equal(3, view.Size);
        Assert.Equal(Convert.ToHexStringLower(done.Sha256), view.Sha256);
        Assert.Equal("least-loaded", view.Target);
        Assert.Equal("-v", view.Args);
        Assert.Equal(5, view.Priority);
        Assert.Equal(30_000, view.TimeoutMs);
        Assert.Equal(3, view.Retries);
        Assert.Equal(1, view.Attempt);
        Assert.Equal("agent-a", view.Agent);
        Assert.Equal(done.SubmittedAt, view.SubmittedAt);
        Assert.NotNull(view.FinishedAt);
        Assert.Equal("completed", view.Outcome);
        Assert.Equal(0, view.ExitCode);
        Assert.Equal(42, view.DurationMs);
        Assert.Equal("\uFFFDok ✓", view.Stdout);
        Assert.Equal("warn", view.Stderr);

        var runningView = await _http.GetFromJsonAsync("api/jobs/" + running.Id, ApiJsonContext.Default.JobView);
        Assert.Equal(JobStates.Running, runningView!.State);
        Assert.Equal("agent-b", runningView.Agent);
        Assert.Null(runningView.Outcome);
        Assert.Null(runningView.Stdout);

        var queuedView = await _http.GetFromJsonAsync("api/jobs/" + queued.Id, ApiJsonContext.Default.JobView);
        Assert.Equal(JobStates.Queued, queuedView!.State);
        Assert.Null(queuedView.Agent);
        Assert.Equal(0, queuedView.Attempt);
        Assert.Null(queuedView.FinishedAt);

        // The JSON names are the contract's.
        using var raw = await _http.GetAsync("api/jobs/" + done.Id);
        var json = System.Text.Json.JsonDocument.Parse(await raw.Content.ReadAsStringAsync()).RootElement;
        string[] expected = ["id", "state", "name", "size", "sha256", "target", "args", "priority", "timeoutMs", "retries", "attempt", "agent",
            "submittedAt", "finishedAt", "deadReason", "outcome", "exitCode", "durationMs", "stdout", "stderr"];
        Assert.Equal(expected, json.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task An_unknown_job_is_404()
    {
        using var response = await _http.GetAsync("api/jobs/j-nope");
        await AssertErrorAsync(response, HttpStatusCode.NotFound, ProblemCodes.NotFound);
    }

    [Fact]
    public async Task The_result_and_its_out_file_are_served_and_404_without_one()
    {
        var (done, running, _) = await SeedThreeAsync();

        var result = await _http.GetFromJsonAsync($"api/jobs/{done.Id}/result", ApiJsonContext.Default.ResultView);
        Assert.Equal(done.Id, result!.JobId);
        Assert.Equal(1, result.Attempt);
        Assert.Equal("agent-a", result.Agent);
        Assert.Equal("completed", result.Outcome);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(42, result.DurationMs);
        Assert.Equal("\uFFFDok ✓", result.Stdout);
        Assert.Equal("warn", result.Stderr);
        Assert.Equal(12, result.OutFileSize);
        Assert.Null(result.Error);

        using var outFile = await _http.GetAsync($"api/jobs/{done.Id}/result/out");
        Assert.Equal(HttpStatusCode.OK, outFile.StatusCode);
        Assert.Equal("application/octet-stream", outFile.Content.Headers.ContentType?.MediaType);
        Assert.Equal("result bytes"u8.ToArray(), await outFile.Content.ReadAsByteArrayAsync());

        using var none = await _http.GetAsync($"api/jobs/{running.Id}/result");
        await AssertErrorAsync(none, HttpStatusCode.NotFound, ProblemCodes.NotFound);
        using var noOut = await _http.GetAsync($"api/jobs/{running.Id}/result/out");
        await AssertErrorAsync(noOut, HttpStatusCode.NotFound, ProblemCodes.NotFound);
    }

    [Fact]
    public async Task A_result_without_an_out_file_has_no_out_to_download()
    {
        var job = await SeedAsync("x", [1], DateTimeOffset.UnixEpoch.AddDays(20_000));
        Assert.True(await _fixture.JobStore.LeaseAsync(job.Id, "agent-a", 1, DateTimeOffset.UnixEpoch.AddDays(20_001), CancellationToken.None));
        var result = new JobResultRecord { JobId = job.Id, Attempt = 1, AgentId = "agent-a", Outcome = "completed", ExitCode = 3, Error = "exit code 3" };
        await _fixture.JobStore.RecordResultAsync(result, success: false, CancellationToken.None);

        using var noOut = await _http.GetAsync($"api/jobs/{job.Id}/result/out");
        await AssertErrorAsync(noOut, HttpStatusCode.NotFound, ProblemCodes.NotFound);
        var view = await _http.GetFromJsonAsync($"api/jobs/{job.Id}/result", ApiJsonContext.Default.ResultView);
        Assert.Equal("exit code 3", view!.Error);
        Assert.Equal(0, view.OutFileSize);
    }

    [Fact]
    public async Task The_list_filters_by_state_and_agent_and_pages_by_id()
    {
        var (done, running, queued) = await SeedThreeAsync();

        var all = await _http.GetFromJsonAsync("api/jobs", ApiJsonContext.Default.JobPage);
        Assert.Equal([done.Id, running.Id, queued.Id], all!.Items.Select(j => j.Id));
        Assert.Null(all.Next);
        Assert.Equal("completed", all.Items[0].Outcome);

        var first = await _http.GetFromJsonAsync("api/jobs?limit=2", ApiJsonContext.Default.JobPage);
        Assert.Equal([done.Id, running.Id], first!.Items.Select(j => j.Id));
        Assert.NotNull(first.Next);
        var second = await _http.GetFromJsonAsync($"api/jobs?limit=2&cursor={first.Next}", ApiJsonContext.Default.JobPage);
        Assert.Equal([queued.Id], second!.Items.Select(j => j.Id));
        Assert.Null(second.Next);

        var exact = await _http.GetFromJsonAsync("api/jobs?limit=3", ApiJsonContext.Default.JobPage);
        Assert.Equal(3, exact!.Items.Count);
        Assert.Null(exact.Next);

        var queuedOnly = await _http.GetFromJsonAsync("api/jobs?state=queued", ApiJsonContext.Default.JobPage);
        Assert.Equal([queued.Id], queuedOnly!.Items.Select(j => j.Id));
        var onB = await _http.GetFromJsonAsync("api/jobs?agent=agent-b", ApiJsonContext.Default.JobPage);
        Assert.Equal([running.Id], onB!.Items.Select(j => j.Id));
        var doneOnB = await _http.GetFromJsonAsync("api/jobs?agent=agent-b&state=done", ApiJsonContext.Default.JobPage);
        Assert.Empty(doneOnB!.Items);

        using var raw = await _http.GetAsync("api/jobs?limit=1");
        var json = System.Text.Json.JsonDocument.Parse(await raw.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["items", "next"], json.EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [InlineData("state=finished", "unknown state 'finished'; use one of queued, running, done, dead, cancelled")]
    [InlineData("state=Done", "unknown state 'Done'; use one of queued, running, done, dead, cancelled")]
    [InlineData("limit=0", "limit must be a whole number from 1 to 1000")]
    [InlineData("limit=1001", "limit must be a whole number from 1 to 1000")]
    [InlineData("limit=ten", "limit must be a whole number from 1 to 1000")]
    [InlineData("agent=no%20spaces", "agent 'no spaces': agent id has the character U+0020; allowed are A-Z a-z 0-9 . _ : @ -")]
    public async Task A_bad_list_parameter_is_400(string query, string error)
    {
        using var response = await _http.GetAsync("api/jobs?" + query);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: error);
    }

    [Theory]
    [InlineData("api/agents?limit=abc", "limit must be a whole number from 1 to 1000")]
    [InlineData("api/agents?limit=0", "limit must be a whole number from 1 to 1000")]
    [InlineData("api/stats?seconds=x", "seconds must be between 1 and 599")]
    [InlineData("api/stats?seconds=-1", "seconds must be between 1 and 599")]
    public async Task A_non_numeric_agents_or_stats_parameter_is_a_400_that_says_why(string path, string error)
    {
        using var response = await _http.GetAsync(path);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: error);
    }
}

/// <summary>Job ids: shape, order and uniqueness.</summary>
public sealed class JobsApiJobIdTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    [Fact]
    public void An_id_is_j_dash_and_26_crockford_base32_characters_carrying_its_millisecond()
    {
        var id = new JobIds().Next(T0);
        Assert.Equal(28, id.Length);
        Assert.StartsWith("j-", id, StringComparison.Ordinal);
        Assert.Matches("^j-[0-7][0-9A-HJKMNP-TV-Z]{25}$", id);
        Assert.True(JobIds.IsWellFormed(id));
        Assert.Equal(T0.ToUnixTimeMilliseconds(), JobIds.TimestampOf(id));
    }

    [Fact]
    public void Ids_sort_by_submission_within_a_millisecond_and_across_milliseconds()
    {
        var ids = new JobIds();
        var made = new List<string>();
        for (var ms = 0; ms < 50; ms++)
        {
            for (var i = 0; i < 100; i++)
            {
                made.Add(ids.Next(T0.AddMilliseconds(ms)));
            }
        }

        Assert.Equal(made, made.Order(StringComparer.Ordinal));
        Assert.Equal(made.Count, made.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Ids_keep_increasing_when_the_clock_steps_back()
    {
        var ids = new JobIds();
        var later = ids.Next(T0.AddSeconds(10));
        var earlier = ids.Next(T0);
        Assert.True(string.CompareOrdinal(earlier, later) > 0);
        Assert.Equal(T0.AddSeconds(10).ToUnixTimeMilliseconds(), JobIds.TimestampOf(earlier));
        Assert.True(string.CompareOrdinal(ids.Next(T0.AddSeconds(11)), earlier) > 0);
    }

    [Fact]
    public void A_new_millisecond_sorts_after_every_id_of_the_previous_one()
    {
        // Whatever the random start, the timestamp is the most significant part.
        for (var round = 0; round < 200; round++)
        {
            var ids = new JobIds();
            var a = ids.Next(T0);
            var b = new JobIds().Next(T0.AddMilliseconds(1));
            Assert.True(string.CompareOrdinal(a, b) < 0);
        }
    }

    [Fact]
    public void Ids_made_on_many_threads_at_once_are_unique_and_ordered_per_thread()
    {
        var ids = new JobIds();
        var time = new FakeTimeProvider(T0);
        var perThread = new List<string>[8];
        Parallel.For(0, perThread.Length, t =>
        {
            var list = new List<string>(5_000);
            for (var i = 0; i < 5_000; i++)
            {
                list.Add(ids.Next(time.GetUtcNow()));
            }

            perThread[t] = list;
        });

        Assert.All(perThread, list => Assert.Equal(list, list.Order(StringComparer.Ordinal)));
        Assert.Equal(40_000, perThread.SelectMany(l => l).Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("j-01ARZ3NDEKTSV4RRFFQ69G5FAV", true)]
    [InlineData("j-81ARZ3NDEKTSV4RRFFQ69G5FAV", false)]
    [InlineData("j-01ARZ3NDEKTSV4RRFFQ69G5FAU", false)]
    [InlineData("j-01arz3ndektsv4rrffq69g5fav", false)]
    [InlineData("x-01ARZ3NDEKTSV4RRFFQ69G5FAV", false)]
    [InlineData("j-01ARZ3NDEKTSV4RRFFQ69G5FA", false)]
    [InlineData("", false)]
    public void Well_formed_ids_are_recognised(string id, bool wellFormed) => Assert.Equal(wellFormed, JobIds.IsWellFormed(id));
}

/// <summary>DurationText, SizeText, file names and targets.</summary>
public sealed class JobsApiTextTests
{
    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("7d", 604_800_000)]
    [InlineData("90", 90_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData(" 2m ", 120_000)]
    [InlineData("0", 0)]
    public void Durations_parse(string text, long milliseconds)
    {
        Assert.True(DurationText.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("s")]
    [InlineData("ms")]
    [InlineData("-1s")]
    [InlineData("5x")]
    [InlineData("5 m")]
    [InlineData("1e3s")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("99999999999999999999d")]
    [InlineData("5M")]
    public void Bad_durations_do_not_parse(string? text) => Assert.False(DurationText.TryParse(text, out _));

    [Theory]
    [InlineData(250, "250ms")]
    [InlineData(30_000, "30s")]
    [InlineData(300_000, "5m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(172_800_000, "2d")]
    [InlineData(1_500, "1500ms")]
    [InlineData(0, "0s")]
    public void Durations_format_in_the_largest_exact_unit(long milliseconds, string text)
    {
        Assert.Equal(text, DurationText.Format(TimeSpan.FromMilliseconds(milliseconds)));
        Assert.True(DurationText.TryParse(text, out var back));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), back);
    }

    [Theory]
    [InlineData("1MiB", 1L << 20)]
    [InlineData("512KiB", 512L << 10)]
    [InlineData("4KiB", 4096)]
    [InlineData("16MiB", 16L << 20)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("1TiB", 1L << 40)]
    [InlineData("4kib", 4096)]
    [InlineData("4 KiB", 4096)]
    [InlineData("1.5MiB", 1_572_864)]
    [InlineData("1000", 1000)]
    [InlineData("1000B", 1000)]
    [InlineData("0", 0)]
    public void Sizes_parse(string text, long bytes)
    {
        Assert.True(SizeText.TryParse(text, out var value));
        Assert.Equal(bytes, value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("KiB")]
    [InlineData("-1")]
    [InlineData("1KB")]
    [InlineData("1MB")]
    [InlineData("1k")]
    [InlineData("1.5")]
    [InlineData("0.1KiB")]
    [InlineData("9999999TiB")]
    [InlineData("1,024")]
    public void Bad_sizes_do_not_parse(string? text) => Assert.False(SizeText.TryParse(text, out _));

    [Theory]
    [InlineData(1L << 20, "1 MiB")]
    [InlineData(1024, "1 KiB")]
    [InlineData(1_572_864, "1.5 MiB")]
    [InlineData(1000, "1000 bytes")]
    [InlineData(1, "1 byte")]
    [InlineData(16L << 20, "16 MiB")]
    public void Sizes_format(long bytes, string text) => Assert.Equal(text, SizeText.Format(bytes));

    [Theory]
    [InlineData("report.csv", "report.csv")]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("/abs/path/x.py", "x.py")]
    [InlineData("C:\\Users\\me\\x.py", "x.py")]
    [InlineData("a\0b\u0001c\nd.txt", "abcd.txt")]
    [InlineData("dir/", "file")]
    [InlineData("..", "file")]
    [InlineData(".", "file")]
    [InlineData("", "file")]
    [InlineData(null, "file")]
    [InlineData("\0\0", "file")]
    [InlineData("x/..\0/y", "y")]
    public void File_names_keep_the_last_segment_without_control_characters(string? raw, string cleaned) =>
        Assert.Equal(cleaned, JobSubmitParameters.CleanFileName(raw));

    [Fact]
    public void File_names_are_capped_at_255_characters_without_splitting_a_surrogate_pair()
    {
        Assert.Equal(new string('a', 255), JobSubmitParameters.CleanFileName(new string('a', 10_000)));
        var emoji = new string('a', 254) + "😀" + "tail";
        var cleaned = JobSubmitParameters.CleanFileName(emoji);
        Assert.Equal(new string('a', 254), cleaned);
    }

    [Theory]
    [InlineData("random")]
    [InlineData("least-loaded")]
    [InlineData("agent:web-1")]
    [InlineData("agent:host.example:7@x")]
    [InlineData("label:role=web")]
    [InlineData("label:role=")]
    [InlineData("label:a=b=c")]
    public void Targets_are_accepted(string target) => Assert.True(JobSubmitParameters.TryParseTarget(target, out _, out _));
}
