using System.Security.Cryptography;
using System.Text;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Helpers for the job tests: jobs, raw job agents, fake-time stepping.</summary>
internal static class JobTestKit
{
    public static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-06-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static int _counter;

    public static Task<HubFixture> StartAsync(FakeTimeProvider? time = null, Func<HubOptions, HubOptions>? more = null, string? data = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null) =>
        HubFixture.StartAsync(
            o =>
            {
                var options = o with { SweepInterval = TimeSpan.FromSeconds(1) };
                if (time is not null)
                {
                    options = options with { TimeProvider = time, FlushInterval = TimeSpan.FromSeconds(1) };
                }

                return more?.Invoke(options) ?? options;
            },
            data,
            loggers);

    public static JobRecord MakeJob(
        string? text = null,
        string target = "random",
        int priority = 0,
        TimeSpan? timeout = null,
        int retries = 2,
        byte[]? content = null,
        DateTimeOffset? at = null)
    {
        var n = Interlocked.Increment(ref _counter);
        var bytes = content ?? Encoding.UTF8.GetBytes(text ?? $"job {n}");
        return new JobRecord
        {
            Id = $"j-test{n:D8}-{Guid.NewGuid():N}"[..30],
            Target = target,
            Priority = priority,
            FileName = $"f{n}.txt",
            FileSize = bytes.Length,
            Sha256 = SHA256.HashData(bytes),
            Content = bytes,
            Args = "--x",
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
            MaxRetries = retries,
            SubmittedAt = at ?? DateTimeOffset.UtcNow,
        };
    }

    /// <summary>A raw agent with job slots: reads job-sized frames.</summary>
    public static async Task<RawProtocolClient> ConnectAgentAsync(HubFixture fixture, string id, ushort slots, IReadOnlyDictionary<string, string>? labels = null)
    {
        var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        client.MaxFrameSize = ProtocolConstants.MaxJobFrameSize;
        var welcome = Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id, labels: labels, jobSlots: slots)));
        Assert.Equal((uint)fixture.Hub.Options.JobAgentMaxFrameSize, welcome.MaxFrameSize);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Registry.TryGet(id, out var e) && e.Session is not null);
        return client;
    }

    public static JobResult Result(Job job, JobOutcome outcome = JobOutcome.Completed, int exitCode = 0, string error = "") =>
        new(job.JobId, job.Attempt, outcome, exitCode, 12, Encoding.UTF8.GetBytes("out"), Encoding.UTF8.GetBytes("err"), Array.Empty<byte>(), error);

    /// <summary>Accepts the job, reports <paramref name="result"/> and waits for its ack.</summary>
    public static async Task CompleteAsync(RawProtocolClient agent, Job job, JobResult? result = null)
    {
        await agent.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await agent.SendAsync(result ?? Result(job));
        var ack = await agent.ReceiveAsync<JobResultAck>();
        Assert.Equal(job.JobId, ack.JobId);
        Assert.Equal(job.Attempt, ack.Attempt);
    }

    /// <summary>Next frame, expecting none of <typeparamref name="T"/> within <paramref name="wait"/>.</summary>
    public static async Task AssertNoneAsync<T>(RawProtocolClient client, TimeSpan? wait = null)
        where T : Message
    {
        try
        {
            var got = await client.ReceiveAsync<T>(wait ?? TimeSpan.FromMilliseconds(300));
            Assert.Fail($"unexpected {typeof(T).Name}: {got}");
        }
        catch (TimeoutException)
        {
        }
    }

    public static async Task<JobRecord> WaitForStateAsync(HubFixture fixture, string id, string state)
    {
        JobRecord? job = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            job = await fixture.JobStore.GetJobAsync(id, withContent: false, CancellationToken.None);
            if (job?.State == state)
            {
                return job;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"job {id} did not reach {state}; it is {job?.State ?? "unknown"}");
    }

    /// <summary>Advances fake time in one-second steps, letting the hub's loops run between steps.</summary>
    public static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < by; elapsed += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }
    }
}
