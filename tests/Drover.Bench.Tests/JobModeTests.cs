using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Drover.Bench.Internal;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Drover.Bench.Tests;

public class JobOptionsTests
{
    [Theory]
    [InlineData("--jobs", -1, 4096, 500, null, 8, 4)]
    [InlineData("--file-size", 10, 0, 500, null, 8, 4)]
    [InlineData("--file-size", 10, 16 * 1024 * 1024 + 1, 500, null, 8, 4)]
    [InlineData("--batch", 10, 4096, 0, null, 8, 4)]
    [InlineData("--batch", 10, 4096, 10_001, null, 8, 4)]
    [InlineData("--batch", 10, 1024 * 1024, 1_000, null, 8, 4)] // 1 GiB requests
    [InlineData("--rate", 10, 4096, 500, 0.0, 8, 4)]
    [InlineData("--rate", 10, 4096, 500, double.NaN, 8, 4)]
    [InlineData("--slots", 10, 4096, 500, null, 0, 4)]
    [InlineData("--slots", 10, 4096, 500, null, 70_000, 4)]
    [InlineData("--submitters", 10, 4096, 500, null, 8, 0)]
    public void Bad_job_flags_are_refused_with_the_flag_named(string flag, int jobs, int fileSize, int batch, double? rate, int slots, int submitters)
    {
        var options = new BenchOptions { Agents = 10, Jobs = jobs, FileSize = fileSize, Batch = batch, Rate = rate, JobSlots = slots, Submitters = submitters };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(flag, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Jobs_do_not_mix_with_the_report_modes_and_the_defaults_are_valid()
    {
        Assert.Contains("--jobs", Assert.Throws<ArgumentException>(new BenchOptions { Jobs = 10, ClosedLoop = true }.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("--jobs", Assert.Throws<ArgumentException>(new BenchOptions { Jobs = 10, RestartAt = TimeSpan.FromSeconds(5) }.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("--drain", Assert.Throws<ArgumentException>(new BenchOptions { Jobs = 10, JobDrain = TimeSpan.Zero }.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("--distinct-files", Assert.Throws<ArgumentException>(new BenchOptions { Jobs = 10, DistinctFiles = 0 }.Validate).Message, StringComparison.Ordinal);

        var options = new BenchOptions { Jobs = 20_000 };
        options.Validate();
        Assert.True(options.JobMode);
        Assert.Equal("jobs", options.Mode);
        Assert.Equal(4096, options.FileSize);
        Assert.Equal(100, options.Batch);
        Assert.Null(options.Rate);
        Assert.Equal(8, options.JobSlots);
        new BenchOptions { Jobs = 10, Batch = 1, Rate = 500, FileSize = 16 * 1024 * 1024 }.Validate();
        Assert.False(new BenchOptions().JobMode);
    }

    [Fact]
    public void The_submission_deadline_grows_with_the_jobs_and_the_pace()
    {
        Assert.Equal(TimeSpan.FromSeconds(320), JobBenchRun.SubmitDeadline(new BenchOptions { Jobs = 20_000 }, 20_000));
        Assert.Equal(TimeSpan.FromSeconds(140), JobBenchRun.SubmitDeadline(new BenchOptions { Jobs = 20_000, Rate = 1_000 }, 20_000));
    }
}

public class MultipartBodyTests
{
    [Fact]
    public async Task Aspnet_cores_multipart_reader_reads_back_every_file_with_its_name_and_bytes()
    {
        var body = new MultipartBody("drover-bench-test", initialCapacity: 256); // forces the array to grow
        var files = new Dictionary<string, byte[]>
        {
            ["b-000000"] = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray(),
            ["b-000001"] = "--drover-bench-test\r\n looks like a boundary but sits inside a line"u8.ToArray(),
            ["b-000002"] = [],
        };
        foreach (var (name, content) in files)
        {
            content.CopyTo(body.AddFile(name, content.Length));
        }

        body.Complete();
        Assert.Equal(3, body.Parts);
        Assert.Equal("multipart/form-data; boundary=drover-bench-test", body.ContentType);

        var parts = await ReadAsync(body);
        Assert.Equal(files.Keys, parts.Select(p => p.Name));
        foreach (var (name, content) in parts)
        {
            Assert.Equal(files[name], content);
        }
    }

    [Fact]
    public async Task A_reset_body_is_reused_without_leftovers()
    {
        var body = new MultipartBody("b1");
        body.AddFile("first", 10).Fill(1);
        body.AddFile("second", 10).Fill(2);
        body.Complete();
        var capacity = body.Buffer.Length;
        body.Reset();
        body.AddFile("third", 3).Fill(3);
        body.Complete();
        Assert.Same(body.Buffer, body.Buffer);
        Assert.Equal(capacity, body.Buffer.Length);
        var parts = await ReadAsync(body);
        Assert.Equal("third", Assert.Single(parts).Name);
    }

    [Fact]
    public void Names_and_boundaries_that_would_need_escaping_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new MultipartBody("has space"));
        var body = new MultipartBody("ok");
        Assert.Throws<ArgumentException>(() => body.AddFile("a\"b", 1));
        Assert.Throws<ArgumentException>(() => body.AddFile("../x", 1));
        Assert.Throws<InvalidOperationException>(body.Complete); // no parts
        body.AddFile("x", 1);
        body.Complete();
        Assert.Throws<InvalidOperationException>(() => body.AddFile("y", 1));
    }

    private static Task<List<(string Name, byte[] Content)>> ReadAsync(MultipartBody body) =>
        ReadAsync(HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(body.ContentType).Boundary).Value!, body.Body.ToArray());

    /// <summary>Reads a multipart/form-data body with ASP.NET Core's reader (the one the hub's API uses).</summary>
    internal static async Task<List<(string Name, byte[] Content)>> ReadAsync(string boundary, byte[] bytes)
    {
        var reader = new MultipartReader(boundary, new MemoryStream(bytes));
        var parts = new List<(string, byte[])>();
        for (var section = await reader.ReadNextSectionAsync(); section is not null; section = await reader.ReadNextSectionAsync())
        {
            Assert.True(ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition));
            Assert.True(disposition!.IsFileDisposition());
            Assert.Equal("application/octet-stream", section.ContentType);
            using var content = new MemoryStream();
            await section.Body.CopyToAsync(content);
            parts.Add((disposition.FileName.Value!, content.ToArray()));
        }

        return parts;
    }
}

public class JobTrackerTests
{
    [Fact]
    public void Names_are_unique_fixed_width_and_map_back_to_their_index()
    {
        var tracker = new JobTracker("b-", 20_000);
        Assert.Equal("b-000123", tracker.NameOf(123));
        Assert.Equal("b-019999", tracker.NameOf(19_999));
        Assert.True(tracker.TryParseIndex("b-000123", out var index));
        Assert.Equal(123, index);
        Assert.False(tracker.TryParseIndex("b-020000", out _)); // past the count
        Assert.False(tracker.TryParseIndex("w-000123", out _)); // another phase
        Assert.False(tracker.TryParseIndex("b-", out _));
        Assert.False(tracker.TryParseIndex("b-12a", out _));
        Assert.False(tracker.TryParseIndex("b-99999999999", out _));
        Assert.Equal("b-1234567", new JobTracker("b-", 2_000_000).NameOf(1_234_567));
    }

    [Fact]
    public void Lost_jobs_are_the_accepted_ones_without_an_ack_and_a_second_ack_is_a_duplicate()
    {
        var tracker = new JobTracker("b-", 10);
        var t0 = Stopwatch.GetTimestamp();
        tracker.Submitting(0, 5, t0);
        tracker.MarkAccepted(0, 5, t0);
        tracker.Submitting(5, 5, t0);
        tracker.MarkRefused(5, 5);
        Assert.Equal(5, tracker.AcceptedCount);
        Assert.Equal(5, tracker.RefusedCount);

        var later = t0 + Stopwatch.Frequency / 100; // 10 ms after the submission
        Assert.True(tracker.Dispatched(0, later));
        Assert.False(tracker.Dispatched(0, later)); // another attempt of the same job
        Assert.Equal(1, tracker.Redelivered);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(tracker.Acked(i, later, TimeSpan.FromMilliseconds(1)));
        }

        Assert.False(tracker.Acked(0, later, TimeSpan.FromMilliseconds(1)));
        Assert.Equal(4, tracker.AckedCount);
        Assert.Equal(1, tracker.DuplicateAcks);
        Assert.Equal(1, tracker.Lost()); // job 4: accepted, never acked; the refused ones are not lost
        Assert.Equal(["b-000004"], tracker.LostNames(5));
        Assert.Equal(t0, tracker.FirstSubmitAt);
        Assert.Equal(later, tracker.LastAckAt);
        Assert.InRange(tracker.EndToEnd.Percentile(50).TotalMilliseconds, 9.8, 10.3);
        Assert.Equal(4, tracker.EndToEnd.Count);
        Assert.Equal(1, tracker.Dispatch.Count);
    }
}

public class LatencyHistogramMaxTests
{
    [Fact]
    public void The_maximum_is_exact_and_survives_concurrent_records()
    {
        var histogram = new LatencyHistogram();
        Assert.Equal(TimeSpan.Zero, histogram.Max);
        Parallel.For(1, 10_001, i => histogram.Record(TimeSpan.FromTicks(i * 13)));
        Assert.Equal(TimeSpan.FromTicks(130_000), histogram.Max);
    }

    [Fact]
    public void A_percentile_never_exceeds_the_maximum()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(TimeSpan.FromMicroseconds(1_000.1)); // its bucket's upper edge is above it
        Assert.Equal(TimeSpan.FromMicroseconds(1_000.1), histogram.Percentile(99));
        Assert.Equal(histogram.Max, histogram.Percentile(100));
    }
}

public class JobSubmitterTests
{
    [Fact]
    public async Task Batches_go_as_multipart_every_job_once_and_a_503_is_retried_after_its_retry_after()
    {
        var hub = new FakeJobsApi { RefuseFirst = 1 };
        using var http = new HttpClient(hub);
        var tracker = new JobTracker("b-", 1_050);
        var failures = new List<string>();
        var submitter = new JobSubmitter(http, new Uri("http://hub.test/"), tracker, new BenchOptions { Jobs = 1_050, FileSize = 100, Batch = 500, Submitters = 3 }, failures.Add);

        await submitter.RunAsync(CancellationToken.None);

        Assert.Empty(failures);
        Assert.Equal(1_050, tracker.AcceptedCount);
        Assert.Equal(3 + 1, submitter.Requests);
        Assert.Equal(1, submitter.Retries);
        Assert.Equal(1_050, hub.Files.Count);
        Assert.Equal(Enumerable.Range(0, 1_050).Select(tracker.NameOf).Order(), hub.Files.Keys.Order());
        Assert.All(hub.Files.Values, content => Assert.Equal(100, content.Length));
        Assert.Equal(1_050, hub.Files.Values.Select(Convert.ToHexString).Distinct().Count()); // every file differs
        Assert.All(hub.Paths, path => Assert.Equal("/api/jobs", path));
    }

    [Fact]
    public async Task Distinct_files_repeat_every_n_jobs_and_two_runs_never_share_a_file()
    {
        var hub = new FakeJobsApi();
        using var http = new HttpClient(hub);
        var options = new BenchOptions { Jobs = 100, FileSize = 64, Batch = 25, Submitters = 2, DistinctFiles = 7 };
        await new JobSubmitter(http, new Uri("http://hub.test/"), new JobTracker("w0-", 100), options, _ => { }).RunAsync(CancellationToken.None);
        await new JobSubmitter(http, new Uri("http://hub.test/"), new JobTracker("b-", 100), options, _ => { }).RunAsync(CancellationToken.None);

        string FileOf(string name) => Convert.ToHexString(hub.Files[name]);
        Assert.Equal(200, hub.Files.Count);
        Assert.Equal(14, hub.Files.Values.Select(Convert.ToHexString).Distinct().Count()); // 7 per run, none shared
        Assert.Equal(FileOf("b-000003"), FileOf("b-000010"));
        Assert.NotEqual(FileOf("b-000003"), FileOf("b-000004"));
        Assert.NotEqual(FileOf("b-000003"), FileOf("w0-000003"));
    }

    [Fact]
    public async Task Batch_one_sends_raw_bodies_named_in_the_query_and_a_refusal_fails_only_its_job()
    {
        var hub = new FakeJobsApi { FailName = "b-000002" };
        using var http = new HttpClient(hub);
        var tracker = new JobTracker("b-", 5);
        var failures = new List<string>();
        var submitter = new JobSubmitter(http, new Uri("http://hub.test/"), tracker, new BenchOptions { Jobs = 5, FileSize = 4096, Batch = 1, Submitters = 2 }, failures.Add);

        await submitter.RunAsync(CancellationToken.None);

        Assert.Equal(4, tracker.AcceptedCount);
        Assert.Equal(1, tracker.RefusedCount);
        Assert.Contains(failures, f => f.Contains("b-000002", StringComparison.Ordinal) && f.Contains("413", StringComparison.Ordinal));
        Assert.Equal(4, hub.Files.Count);
        Assert.All(hub.Paths, path => Assert.StartsWith("/api/jobs?name=b-00000", path, StringComparison.Ordinal));
        Assert.All(hub.ContentTypes, type => Assert.Equal("application/octet-stream", type));
    }

    [Fact]
    public async Task A_paced_submission_spreads_its_batches_over_time()
    {
        var hub = new FakeJobsApi();
        using var http = new HttpClient(hub);
        var tracker = new JobTracker("b-", 40);
        var submitter = new JobSubmitter(http, new Uri("http://hub.test/"), tracker, new BenchOptions { Jobs = 40, FileSize = 10, Batch = 10, Rate = 100, Submitters = 4 }, _ => { });

        var clock = Stopwatch.StartNew();
        await submitter.RunAsync(CancellationToken.None);

        // Batches are due at 0, 100, 200 and 300 ms; the last one cannot have started before its time.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(290), $"took {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(40, tracker.AcceptedCount);
    }

    /// <summary>POST /api/jobs as the contract describes it, in memory: multipart or raw body, 201 with the jobs in
    /// order; optionally 503 + Retry-After for the first requests, or 413 for one file name.</summary>
    private sealed class FakeJobsApi : HttpMessageHandler
    {
        private int _refused;

        public int RefuseFirst { get; init; }

        public string? FailName { get; init; }

        public System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Files { get; } = new();

        public System.Collections.Concurrent.ConcurrentBag<string> Paths { get; } = [];

        public System.Collections.Concurrent.ConcurrentBag<string> ContentTypes { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Assert.Equal(HttpMethod.Post, request.Method);
            Paths.Add(request.RequestUri!.PathAndQuery);
            var contentType = request.Content!.Headers.ContentType!.ToString();
            ContentTypes.Add(contentType);
            if (Interlocked.Increment(ref _refused) <= RefuseFirst)
            {
                var busy = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("""{"error":"queue full"}""") };
                busy.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(0));
                return busy;
            }

            var bytes = await request.Content.ReadAsByteArrayAsync(cancellationToken);
            List<(string Name, byte[] Content)> files;
            if (contentType.StartsWith("multipart/form-data", StringComparison.Ordinal))
            {
                var boundary = request.Content.Headers.ContentType!.Parameters.Single(p => p.Name == "boundary").Value!;
                files = await MultipartBodyTests.ReadAsync(boundary, bytes);
            }
            else
            {
                var name = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query)["name"]!;
                files = [(name, bytes)];
            }

            if (files.Any(f => f.Name == FailName))
            {
                return new HttpResponseMessage(HttpStatusCode.RequestEntityTooLarge) { Content = new StringContent($$"""{"error":"{{FailName}} is over the limit"}""") };
            }

            foreach (var (name, content) in files)
            {
                Assert.True(Files.TryAdd(name, content), $"{name} sent twice");
            }

            var answer = JsonSerializer.Serialize(new { jobs = files.Select((f, i) => new { id = $"j-{f.Name}", name = f.Name, size = f.Content.Length, sha256 = "00" }) });
            return new HttpResponseMessage(HttpStatusCode.Created) { Content = new StringContent(answer, Encoding.UTF8, "application/json") };
        }
    }
}
