using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using static Drover.Hub.Tests.JobTestKit;

namespace Drover.Hub.Tests;

/// <summary>Uploads through <c>POST /api/jobs</c> over real HTTP, with a real SQLite file: files stream to the hub's
/// upload directory as they arrive, a request that fails part way (the client goes away, a part is over the limit)
/// leaves neither a spool file nor a job, and the files of a large upload reach an agent byte for byte while the queue
/// keeps only small files in the hub's memory.</summary>
public sealed class UploadTests
{
    private const string Boundary = "dr0v3r-upl0ad";

    private static string UploadsOf(HubFixture fixture) => Path.Combine(fixture.DataDirectory, "uploads");

    private static string[] SpoolFiles(HubFixture fixture) => Directory.GetFiles(UploadsOf(fixture));

    private static byte[] Bytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task AssertNothingStoredAsync(HubFixture fixture)
    {
        Assert.Empty(await fixture.JobStore.ListJobsAsync(null, null, 10, null, CancellationToken.None));
        Assert.Equal(0, fixture.Hub.Jobs.ActiveCount);
        Assert.Equal(0, fixture.Hub.Jobs.SubmittedTotal);
    }

    [Fact]
    public async Task A_large_multipart_upload_becomes_jobs_whose_bytes_reach_an_agent_and_the_queue_keeps_only_small_files_in_memory()
    {
        await using var fixture = await StartAsync();
        using var http = fixture.CreateApiClient();

        // Small files (kept in memory while the request is read), large ones and one of exactly the 1 MiB limit
        // (streamed to spool files), an empty one: about 7 MiB in 34 parts.
        var files = new List<(string Name, byte[] Bytes)>();
        for (var i = 0; i < 12; i++)
        {
            files.Add(($"small-{i}.bin", Bytes(1000 + (i * 300), i)));
        }

        for (var i = 0; i < 20; i++)
        {
            files.Add(($"large-{i}.bin", Bytes((300 * 1024) + i, 100 + i)));
        }

        files.Add(("limit.bin", Bytes(fixture.Hub.Options.MaxFileSize, 999)));
        files.Add(("empty.bin", []));
        using var form = new MultipartFormDataContent(Boundary);
        foreach (var (name, bytes) in files)
        {
            form.Add(new ByteArrayContent(bytes), "file", name);
        }

        using var response = await http.PostAsync("api/jobs", form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var jobs = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs;
        Assert.Equal(files.Select(f => f.Name), jobs.Select(j => j.Name));
        Assert.Equal(files.Select(f => Convert.ToHexStringLower(SHA256.HashData(f.Bytes))), jobs.Select(j => j.Sha256));

        // Committed, the spool files gone, and the queue keeps only the small files in memory (within its budget):
        // the others are in the store only.
        Assert.Empty(SpoolFiles(fixture));
        Assert.Equal(files.Count, fixture.Hub.Jobs.ActiveCount);
        Assert.Equal(files.Where(f => f.Name.StartsWith("small-", StringComparison.Ordinal)).Sum(f => f.Bytes.Length), fixture.Hub.Jobs.FileBytesHeld);
        var expected = jobs.Zip(files).ToDictionary(p => p.First.Id, p => p.Second.Bytes, StringComparer.Ordinal);
        var limitJob = jobs.Single(j => j.Name == "limit.bin").Id;
        Assert.Equal(expected[limitJob], (await fixture.JobStore.GetJobAsync(limitJob, withContent: true, CancellationToken.None))!.Content);

        // An agent takes them all, four at a time: each frame carries the file's bytes, read back from the store.
        await using var agent = await ConnectAgentAsync(fixture, "taker", slots: 4);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var acks = 0;
        while (acks < files.Count)
        {
            switch (await agent.ReceiveAsync(TimeSpan.FromSeconds(30)))
            {
                case Job job:
                    Assert.True(seen.Add(job.JobId), $"job {job.JobId} sent twice");
                    Assert.Equal(expected[job.JobId], job.Content.ToArray());
                    Assert.Equal(SHA256.HashData(job.Content.Span), job.Sha256);
                    await agent.SendAsync(new JobAccepted(job.JobId, job.Attempt));
                    await agent.SendAsync(Result(job));
                    break;
                case JobResultAck:
                    acks++;
                    break;
            }
        }

        Assert.Equal(files.Count, seen.Count);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ActiveCount == 0, because: "every job done");
        Assert.Equal(0, fixture.Hub.Jobs.FileBytesHeld);
        var counts = await fixture.JobStore.CountByStateAsync(CancellationToken.None);
        Assert.Equal(files.Count, counts["done"]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_upload_aborted_mid_body_leaves_no_spool_file_and_no_job(bool multipart)
    {
        await using var fixture = await StartAsync();

        // A raw client that promises 10 MiB (a single body: the 1 MiB limit), sends a whole first file and part of a
        // second (a single body: part of its one file), waits until the hub is spooling them, and resets the connection.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, fixture.ApiUrl.Port);
        var contentType = multipart ? $"multipart/form-data; boundary={Boundary}" : "application/octet-stream";
        var head = $"POST /api/jobs?{(multipart ? string.Empty : "name=cut.bin")} HTTP/1.1\r\nHost: 127.0.0.1:{fixture.ApiUrl.Port}\r\n"
            + $"Authorization: Bearer {HubFixture.AdminToken}\r\nContent-Type: {contentType}\r\nContent-Length: {(multipart ? 10 : 1) * 1024 * 1024}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        if (multipart)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(PartHeader("whole.bin")));
            await socket.SendAsync(Bytes(200 * 1024, 1));
            await socket.SendAsync(Encoding.ASCII.GetBytes("\r\n" + PartHeader("cut.bin")));
        }

        await socket.SendAsync(Bytes(150 * 1024, 2));
        var spooling = multipart ? 2 : 1;
        await HubFixture.WaitUntilAsync(() => SpoolFiles(fixture).Length == spooling, because: $"{spooling} spool files while the body arrives");

        socket.LingerState = new LingerOption(true, 0);
        socket.Close();

        await HubFixture.WaitUntilAsync(() => SpoolFiles(fixture).Length == 0, because: "the aborted request's spool files deleted");
        await AssertNothingStoredAsync(fixture);
    }

    private static string PartHeader(string name) =>
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n";

    [Fact]
    public async Task An_oversize_part_or_body_is_413_and_leaves_no_spool_file_and_no_job()
    {
        const int limit = 256 * 1024;
        await using var fixture = await StartAsync(more: o => o with { MaxFileSize = limit });
        using var http = fixture.CreateApiClient();

        // The first part is spooled whole, the second is over the limit: reading stops there, the third is never read.
        using var form = new MultipartFormDataContent(Boundary)
        {
            { new ByteArrayContent(Bytes(200 * 1024, 1)), "file", "a.bin" },
            { new ByteArrayContent(Bytes(limit + 1, 2)), "file", "b.bin" },
            { new ByteArrayContent(Bytes(100 * 1024, 3)), "file", "c.bin" },
        };
        using (var response = await http.PostAsync("api/jobs", form))
        {
            await JobsApiTests.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, ProblemCodes.TooLarge, says: "file 'b.bin' (part 2)");
        }

        // The spool files are deleted before the answer is sent.
        Assert.Empty(SpoolFiles(fixture));

        // A single body without a length, four times the limit: 413 once the limit is passed.
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs?name=big.bin") { Content = new StreamContent(new MemoryStream(Bytes(4 * limit, 4))) };
        request.Headers.TransferEncodingChunked = true;
        using (var response = await http.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        Assert.Empty(SpoolFiles(fixture));
        await AssertNothingStoredAsync(fixture);
    }

    [Fact]
    public async Task A_start_deletes_the_spool_files_an_earlier_run_left_and_nothing_else()
    {
        var data = HubFixture.NewDataDirectory();
        try
        {
            var uploads = Directory.CreateDirectory(Path.Combine(data, "uploads")).FullName;
            await File.WriteAllBytesAsync(Path.Combine(uploads, "0123abcd" + Http.UploadSpool.Extension), [1, 2, 3]);
            await File.WriteAllTextAsync(Path.Combine(uploads, "notes.txt"), "not the hub's");

            await using var fixture = await StartAsync(data: data);
            Assert.Equal([Path.Combine(uploads, "notes.txt")], SpoolFiles(fixture));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
