using System.Security.Cryptography;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using static Drover.Hub.Tests.JobTestKit;

namespace Drover.Hub.Tests;

/// <summary>The job engine over real sockets and a real SQLite file: placement, results, retries, leases,
/// disconnects, cancel, limits, restart, and large frames through the outbound queue.</summary>
public sealed class HubJobTests
{
    [Fact]
    public async Task A_job_goes_to_an_agent_with_slots_and_its_result_makes_it_done()
    {
        await using var fixture = await StartAsync();
        await using var agent = await ConnectAgentAsync(fixture, "worker-1", slots: 2);
        var submitted = MakeJob("hello", timeout: TimeSpan.FromSeconds(30));
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);

        var job = await agent.ReceiveAsync<Job>();
        Assert.Equal(submitted.Id, job.JobId);
        Assert.Equal(1u, job.Attempt);
        Assert.Equal(30_000u, job.TimeoutMs);
        Assert.Equal(submitted.FileName, job.FileName);
        Assert.Equal(submitted.Sha256, job.Sha256);
        Assert.Equal(submitted.Content, job.Content.ToArray());
        Assert.Equal("--x", job.Args);
        var running = await WaitForStateAsync(fixture, submitted.Id, JobStates.Running);
        Assert.Equal("worker-1", running.LeaseOwner);
        Assert.Equal(1, fixture.Hub.Jobs.InFlightOn("worker-1"));

        await CompleteAsync(agent, job);
        var done = await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
        Assert.Equal(1, done.Attempt);
        var result = await fixture.JobStore.GetResultAsync(submitted.Id, withOutFile: true, CancellationToken.None);
        Assert.Equal("completed", result!.Outcome);
        Assert.Equal(0, result.ExitCode);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.InFlightOn("worker-1") == 0);
        Assert.Equal(1, fixture.Hub.Jobs.SubmittedTotal);
        Assert.Equal(1, fixture.Hub.Jobs.FinishedTotal);
        Assert.Equal(0, fixture.Hub.Jobs.ActiveCount);
    }

    [Fact]
    public async Task An_agent_without_slots_gets_no_jobs_and_keeps_the_small_frame_cap()
    {
        await using var fixture = await StartAsync();
        await using var plain = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        var welcome = Assert.IsType<Welcome>(await plain.HandshakeAsync(RawProtocolClient.MakeHello("no-slots")));
        Assert.Equal((uint)fixture.Hub.Options.MaxFrameSize, welcome.MaxFrameSize);
        var submitted = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        await AssertNoneAsync<Job>(plain);
        Assert.Equal(JobStates.Queued, (await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None))!.State);
    }

    [Fact]
    public async Task Never_more_jobs_in_flight_than_slots()
    {
        await using var fixture = await StartAsync();
        await using var agent = await ConnectAgentAsync(fixture, "two-slots", slots: 2);
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(), MakeJob(), MakeJob(), MakeJob(), MakeJob()], CancellationToken.None);

        var first = await agent.ReceiveAsync<Job>();
        var second = await agent.ReceiveAsync<Job>();
        await AssertNoneAsync<Job>(agent);
        Assert.Equal(2, fixture.Hub.Jobs.InFlightOn("two-slots"));

        await CompleteAsync(agent, first);
        var third = await agent.ReceiveAsync<Job>();
        Assert.NotEqual(second.JobId, third.JobId);
        await AssertNoneAsync<Job>(agent);
    }

    [Fact]
    public async Task Random_placement_spreads_jobs_over_the_agents()
    {
        await using var fixture = await StartAsync();
        var agents = new List<RawProtocolClient>();
        for (var i = 0; i < 4; i++)
        {
            agents.Add(await ConnectAgentAsync(fixture, $"spread-{i}", slots: 200));
        }

        var jobs = Enumerable.Range(0, 200).Select(_ => MakeJob()).ToList();
        await fixture.Hub.Jobs.SubmitAsync(jobs, CancellationToken.None);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ActiveCount == 200 && agents.Select((_, i) => fixture.Hub.Jobs.InFlightOn($"spread-{i}")).Sum() == 200);
        var counts = Enumerable.Range(0, 4).Select(i => fixture.Hub.Jobs.InFlightOn($"spread-{i}")).ToList();
        Assert.All(counts, c => Assert.InRange(c, 25, 80)); // 50 expected each; ±4σ is about ±25

        var received = 0;
        foreach (var agent in agents)
        {
            try
            {
                while (true)
                {
                    await agent.ReceiveAsync<Job>(TimeSpan.FromMilliseconds(500));
                    received++;
                }
            }
            catch (TimeoutException)
            {
            }

            await agent.DisposeAsync();
        }

        Assert.Equal(200, received);
    }

    [Fact]
    public async Task Least_loaded_picks_the_agent_with_the_fewest_jobs_per_slot()
    {
        await using var fixture = await StartAsync();
        await using var busy = await ConnectAgentAsync(fixture, "ll-busy", slots: 2);
        await using var idle = await ConnectAgentAsync(fixture, "ll-idle", slots: 4);
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(target: "agent:ll-busy")], CancellationToken.None);
        await busy.ReceiveAsync<Job>();

        // busy: 1/2, idle: 0/4, then 1/4, 2/4 (= busy's 1/2: the older agent, busy, wins the tie)...
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(target: "least-loaded")], CancellationToken.None);
        await idle.ReceiveAsync<Job>();
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(target: "least-loaded")], CancellationToken.None);
        await idle.ReceiveAsync<Job>();
        Assert.Equal(1, fixture.Hub.Jobs.InFlightOn("ll-busy"));
        Assert.Equal(2, fixture.Hub.Jobs.InFlightOn("ll-idle"));
    }

    [Fact]
    public async Task Label_targets_reach_only_agents_with_the_label()
    {
        await using var fixture = await StartAsync();
        await using var gpu = await ConnectAgentAsync(fixture, "gpu-1", slots: 10, new Dictionary<string, string> { ["gpu"] = "yes" });
        await using var cpu = await ConnectAgentAsync(fixture, "cpu-1", slots: 10, new Dictionary<string, string> { ["gpu"] = "no" });
        var jobs = Enumerable.Range(0, 5).Select(_ => MakeJob(target: "label:gpu=yes")).ToList();
        await fixture.Hub.Jobs.SubmitAsync(jobs, CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            await gpu.ReceiveAsync<Job>();
        }

        await AssertNoneAsync<Job>(cpu);
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(target: "label:site=mars")], CancellationToken.None);
        await AssertNoneAsync<Job>(cpu);
        await AssertNoneAsync<Job>(gpu);
    }

    [Fact]
    public async Task A_job_for_an_offline_agent_waits_for_it_and_expires_if_it_does_not_come()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await using var other = await ConnectAgentAsync(fixture, "bystander", slots: 4);
        var waiting = MakeJob(target: "agent:late-comer", timeout: TimeSpan.FromSeconds(20));
        var doomed = MakeJob(target: "agent:ghost", timeout: TimeSpan.FromSeconds(5));
        await fixture.Hub.Jobs.SubmitAsync([waiting, doomed], CancellationToken.None);
        await AssertNoneAsync<Job>(other);

        await AdvanceAsync(time, TimeSpan.FromSeconds(3));
        await using var lateComer = await ConnectAgentAsync(fixture, "late-comer", slots: 1);
        Assert.Equal(waiting.Id, (await lateComer.ReceiveAsync<Job>()).JobId);

        await AdvanceAsync(time, TimeSpan.FromSeconds(4));
        var dead = await WaitForStateAsync(fixture, doomed.Id, JobStates.Dead);
        Assert.Equal("agent ghost did not come online within 5s", dead.DeadReason);
        await AssertNoneAsync<Job>(other);
    }

    [Fact]
    public async Task Higher_priority_runs_first_then_submission_order()
    {
        await using var fixture = await StartAsync();
        var low = MakeJob(priority: 0);
        var high = MakeJob(priority: 5);
        var mid1 = MakeJob(priority: 1);
        var mid2 = MakeJob(priority: 1, target: "least-loaded");
        await fixture.Hub.Jobs.SubmitAsync([low, high, mid1, mid2], CancellationToken.None);

        await using var agent = await ConnectAgentAsync(fixture, "one-slot", slots: 1);
        foreach (var expected in new[] { high, mid1, mid2, low })
        {
            var job = await agent.ReceiveAsync<Job>();
            Assert.Equal(expected.Id, job.JobId);
            await CompleteAsync(agent, job);
        }
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_on_another_agent_then_the_job_is_dead_with_the_reason()
    {
        await using var fixture = await StartAsync();
        await using var a = await ConnectAgentAsync(fixture, "fail-a", slots: 1);
        await using var b = await ConnectAgentAsync(fixture, "fail-b", slots: 1);
        var submitted = MakeJob(retries: 1);
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);

        var (first, firstAgent, secondAgent) = await ReceiveFromEitherAsync(a, b);
        Assert.Equal(1u, first.Attempt);
        await CompleteAsync(firstAgent, first, Result(first, JobOutcome.Completed, exitCode: 3, error: "exit code 3"));

        var second = await secondAgent.ReceiveAsync<Job>();
        Assert.Equal(2u, second.Attempt);

        // The first attempt's file came from memory (kept within the budget), the retry's from the store.
        Assert.Equal(submitted.Content, first.Content.ToArray());
        Assert.Equal(submitted.Content, second.Content.ToArray());
        await CompleteAsync(secondAgent, second, Result(second, JobOutcome.StartFailed, exitCode: -1, error: "handler not found"));

        var dead = await WaitForStateAsync(fixture, submitted.Id, JobStates.Dead);
        Assert.Equal("start-failed: handler not found", dead.DeadReason);
        Assert.Equal(2, dead.Attempt);
        await AssertNoneAsync<Job>(firstAgent);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ActiveCount == 0 && fixture.Hub.Jobs.FinishedTotal == 1);
    }

    [Fact]
    public async Task A_lease_that_expires_cancels_the_attempt_and_retries_the_job()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, o => o with { LeaseGrace = TimeSpan.FromSeconds(2) });
        await using var agent = await ConnectAgentAsync(fixture, "hangs", slots: 1);
        var submitted = MakeJob(timeout: TimeSpan.FromSeconds(5), retries: 1);
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await agent.ReceiveAsync<Job>();
        await agent.SendAsync(new JobAccepted(job.JobId, job.Attempt));

        await AdvanceAsync(time, TimeSpan.FromSeconds(5));
        await AssertNoneAsync<JobCancel>(agent, TimeSpan.FromMilliseconds(100));
        await AdvanceAsync(time, TimeSpan.FromSeconds(3));
        var cancel = await agent.ReceiveAsync<JobCancel>();
        Assert.Equal(job.JobId, cancel.JobId);
        Assert.Equal(1u, cancel.Attempt);
        Assert.Equal("timed out: no result within 5s", cancel.Reason);

        // The only agent: the retry comes back to it (avoided only when another candidate exists).
        var retry = await agent.ReceiveAsync<Job>();
        Assert.Equal(2u, retry.Attempt);

        // The late result of attempt 1 is stale: acknowledged, nothing changes.
        await agent.SendAsync(Result(job));
        await agent.ReceiveAsync<JobResultAck>();
        Assert.Equal(JobStates.Running, (await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None))!.State);

        await AdvanceAsync(time, TimeSpan.FromSeconds(8));
        var dead = await WaitForStateAsync(fixture, submitted.Id, JobStates.Dead);
        Assert.Equal("timed out: no result within 5s", dead.DeadReason);
    }

    [Fact]
    public async Task A_disconnected_agents_job_is_requeued_after_the_grace()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, o => o with { DisconnectGrace = TimeSpan.FromSeconds(10) });
        var dying = await ConnectAgentAsync(fixture, "dying", slots: 1);
        var submitted = MakeJob(timeout: TimeSpan.FromMinutes(5));
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await dying.ReceiveAsync<Job>();
        await dying.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await using var survivor = await ConnectAgentAsync(fixture, "survivor", slots: 1);
        await dying.DisposeAsync();
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Registry.TryGet("dying", out var e) && e.Session is null);

        await AdvanceAsync(time, TimeSpan.FromSeconds(5));
        await AssertNoneAsync<Job>(survivor);
        await AdvanceAsync(time, TimeSpan.FromSeconds(6));
        var retry = await survivor.ReceiveAsync<Job>();
        Assert.Equal(submitted.Id, retry.JobId);
        Assert.Equal(2u, retry.Attempt);
        await CompleteAsync(survivor, retry);
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
    }

    [Fact]
    public async Task An_agent_that_reconnects_and_reannounces_its_job_keeps_the_lease()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, o => o with { DisconnectGrace = TimeSpan.FromSeconds(10) });
        var first = await ConnectAgentAsync(fixture, "flaky", slots: 2);
        var submitted = MakeJob(timeout: TimeSpan.FromMinutes(5));
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await first.ReceiveAsync<Job>();
        await first.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await first.DisposeAsync();
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Registry.TryGet("flaky", out var e) && e.Session is null);
        await AdvanceAsync(time, TimeSpan.FromSeconds(4));

        await using var again = await ConnectAgentAsync(fixture, "flaky", slots: 2);
        await again.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await again.SendAsync(new JobAccepted(job.JobId, 7)); // an attempt it never had
        await again.SendAsync(new JobAccepted("j-nobody-knows", 1));
        var cancel1 = await again.ReceiveAsync<JobCancel>();
        var cancel2 = await again.ReceiveAsync<JobCancel>();
        Assert.Equal((job.JobId, 7u, JobDispatcher.NotLeasedReason), (cancel1.JobId, cancel1.Attempt, cancel1.Reason));
        Assert.Equal(("j-nobody-knows", JobDispatcher.NotLeasedReason), (cancel2.JobId, cancel2.Reason));

        await AdvanceAsync(time, TimeSpan.FromSeconds(15));
        await AssertNoneAsync<JobCancel>(again);
        var running = await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None);
        Assert.Equal((JobStates.Running, 1, "flaky"), (running!.State, running.Attempt, running.LeaseOwner));
        Assert.Equal(1, fixture.Hub.Jobs.InFlightOn("flaky"));

        await again.SendAsync(Result(job));
        await again.ReceiveAsync<JobResultAck>();
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.InFlightOn("flaky") == 0);
    }

    [Fact]
    public async Task Duplicate_stale_and_unknown_results_are_acknowledged_and_change_nothing()
    {
        await using var fixture = await StartAsync();
        await using var agent = await ConnectAgentAsync(fixture, "dup", slots: 1);
        var submitted = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await agent.ReceiveAsync<Job>();
        await CompleteAsync(agent, job);
        var done = await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);

        await agent.SendAsync(Result(job, JobOutcome.Completed, exitCode: 9)); // duplicate (different content, same attempt)
        Assert.Equal(job.JobId, (await agent.ReceiveAsync<JobResultAck>()).JobId);
        await agent.SendAsync(Result(job with { Attempt = 4 }));               // stale
        Assert.Equal(4u, (await agent.ReceiveAsync<JobResultAck>()).Attempt);
        await agent.SendAsync(Result(job with { JobId = "j-unknown" }));       // unknown
        Assert.Equal("j-unknown", (await agent.ReceiveAsync<JobResultAck>()).JobId);

        var after = await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None);
        Assert.Equal((done.State, done.Attempt, done.FinishedAt), (after!.State, after.Attempt, after.FinishedAt));
        Assert.Equal(0, (await fixture.JobStore.GetResultAsync(submitted.Id, withOutFile: true, CancellationToken.None))!.ExitCode);
        Assert.Equal(1, fixture.Hub.Jobs.FinishedTotal);
        Assert.Equal(0, fixture.Hub.Jobs.InFlightOn("dup"));
    }

    [Fact]
    public async Task A_busy_agent_hands_the_job_back_and_it_goes_elsewhere()
    {
        await using var fixture = await StartAsync();
        await using var a = await ConnectAgentAsync(fixture, "busy-a", slots: 1);
        await using var b = await ConnectAgentAsync(fixture, "busy-b", slots: 1);
        var submitted = MakeJob(retries: 2);
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var (first, busyAgent, otherAgent) = await ReceiveFromEitherAsync(a, b);
        await busyAgent.SendAsync(new JobBusy(first.JobId, first.Attempt, "draining"));

        var second = await otherAgent.ReceiveAsync<Job>();
        Assert.Equal(2u, second.Attempt); // a busy answer counts as an attempt
        await CompleteAsync(otherAgent, second);
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
    }

    [Fact]
    public async Task Cancel_stops_a_running_job_and_keeps_its_slot_until_the_result()
    {
        await using var fixture = await StartAsync();
        await using var agent = await ConnectAgentAsync(fixture, "cancel-me", slots: 1);
        var running = MakeJob();
        var queued = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([running], CancellationToken.None);
        var job = await agent.ReceiveAsync<Job>();
        await agent.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await fixture.Hub.Jobs.SubmitAsync([queued], CancellationToken.None);

        var (result, record) = await fixture.Hub.Jobs.CancelAsync(running.Id, CancellationToken.None);
        Assert.Equal(CancelResult.Cancelled, result);
        Assert.Equal(JobStates.Cancelled, record!.State);
        var cancel = await agent.ReceiveAsync<JobCancel>();
        Assert.Equal((job.JobId, job.Attempt), (cancel.JobId, cancel.Attempt));
        await AssertNoneAsync<Job>(agent); // the slot is still counted
        Assert.Equal(1, fixture.Hub.Jobs.InFlightOn("cancel-me"));

        await agent.SendAsync(Result(job, JobOutcome.Cancelled, exitCode: -1));
        await agent.ReceiveAsync<JobResultAck>();
        var next = await agent.ReceiveAsync<Job>();
        Assert.Equal(queued.Id, next.JobId);
        Assert.Equal(JobStates.Cancelled, (await fixture.JobStore.GetJobAsync(running.Id, withContent: false, CancellationToken.None))!.State);

        Assert.Equal(CancelResult.AlreadyFinal, (await fixture.Hub.Jobs.CancelAsync(running.Id, CancellationToken.None)).Result);
        Assert.Equal(CancelResult.Unknown, (await fixture.Hub.Jobs.CancelAsync("j-none", CancellationToken.None)).Result);
    }

    [Fact]
    public async Task A_queued_job_that_is_cancelled_never_runs()
    {
        await using var fixture = await StartAsync();
        var submitted = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        Assert.Equal(CancelResult.Cancelled, (await fixture.Hub.Jobs.CancelAsync(submitted.Id, CancellationToken.None)).Result);
        Assert.Equal(0, fixture.Hub.Jobs.ActiveCount);
        await using var agent = await ConnectAgentAsync(fixture, "late", slots: 1);
        await AssertNoneAsync<Job>(agent);
    }

    [Fact]
    public async Task A_submission_over_the_queue_limit_is_refused_whole_with_a_retry_after()
    {
        await using var fixture = await StartAsync(more: o => o with { MaxQueuedJobs = 3 });
        await fixture.Hub.Jobs.SubmitAsync([MakeJob(), MakeJob()], CancellationToken.None);
        var over = await Assert.ThrowsAsync<JobQueueFullException>(() => fixture.Hub.Jobs.SubmitAsync([MakeJob(), MakeJob()], CancellationToken.None));
        Assert.True(over.RetryAfter >= TimeSpan.FromSeconds(1));
        Assert.Contains("queue is full", over.Message, StringComparison.Ordinal);
        var counts = await fixture.JobStore.CountByStateAsync(CancellationToken.None);
        Assert.Equal(2, counts[JobStates.Queued]);
        await fixture.Hub.Jobs.SubmitAsync([MakeJob()], CancellationToken.None); // exactly at the limit
        Assert.Equal(3, fixture.Hub.Jobs.SubmittedTotal);
    }

    [Fact]
    public async Task A_restarted_hub_reloads_queued_and_running_jobs()
    {
        var data = HubFixture.NewDataDirectory();
        try
        {
            var queued = new[] { MakeJob(priority: 1), MakeJob() };
            var leased = MakeJob(target: "agent:keeper");
            await using (var first = await StartAsync(data: data))
            {
                await using var keeper = await ConnectAgentAsync(first, "keeper", slots: 1);
                await first.Hub.Jobs.SubmitAsync([leased], CancellationToken.None);
                var job = await keeper.ReceiveAsync<Job>();
                await keeper.SendAsync(new JobAccepted(job.JobId, job.Attempt));
                await WaitForStateAsync(first, leased.Id, JobStates.Running);
                await first.Hub.Jobs.SubmitAsync(queued, CancellationToken.None);
            }

            await using var second = await StartAsync(data: data);
            Assert.Equal(3, second.Hub.Jobs.ActiveCount);
            Assert.Equal(1, second.Hub.Jobs.InFlightOn("keeper"));

            // The keeper comes back and re-announces its job: the lease stands (its one slot stays taken).
            await using var keeperAgain = await ConnectAgentAsync(second, "keeper", slots: 1);
            await keeperAgain.SendAsync(new JobAccepted(leased.Id, 1));
            await AssertNoneAsync<JobCancel>(keeperAgain);

            await using var fresh = await ConnectAgentAsync(second, "fresh", slots: 1);
            foreach (var expected in queued)
            {
                var job = await fresh.ReceiveAsync<Job>();
                Assert.Equal(expected.Id, job.JobId);
                Assert.Equal(expected.Content, job.Content.ToArray());
                await CompleteAsync(fresh, job);
            }

            await keeperAgain.SendAsync(Result(new Job(leased.Id, 1, 0, 0, string.Empty, new byte[32], string.Empty, Array.Empty<byte>())));
            await keeperAgain.ReceiveAsync<JobResultAck>();
            await WaitForStateAsync(second, leased.Id, JobStates.Done);

            await HubFixture.WaitUntilAsync(() => second.Hub.Jobs.ActiveCount == 0);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_large_job_frame_reaches_a_slow_reader_through_the_outbound_queue()
    {
        await using var fixture = await StartAsync(more: o => o with { MaxFileSize = 16 * 1024 * 1024 });
        await using var agent = await ConnectAgentAsync(fixture, "slow-reader", slots: 1);
        var content = new byte[12 * 1024 * 1024];
        new Random(7).NextBytes(content);
        var submitted = MakeJob(content: content);
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);

        // The agent reads nothing yet: the kernel takes a part, the rest waits in the hub's queue.
        Assert.True(fixture.Hub.Registry.TryGet("slow-reader", out var entry));
        var session = entry.Session!;
        await HubFixture.WaitUntilAsync(() => session.BacklogBytes > 0, because: "the frame does not fit the socket buffers");
        await Task.Delay(200);

        var job = await agent.ReceiveAsync<Job>(TimeSpan.FromSeconds(30));
        Assert.Equal(submitted.Id, job.JobId);
        Assert.Equal(SHA256.HashData(content), SHA256.HashData(job.Content.Span));
        await HubFixture.WaitUntilAsync(() => session.BacklogBytes == 0);

        // The session is intact: frames after the large one still arrive in order.
        await agent.SendAsync(new Ping(42));
        Assert.Equal(42u, (await agent.ReceiveAsync<Pong>()).Value);
        await CompleteAsync(agent, job);
        Assert.False(session.IsClosed);
    }

    [Fact]
    public async Task An_agent_that_does_not_read_its_jobs_is_disconnected_as_a_slow_consumer()
    {
        await using var fixture = await StartAsync();
        await using var sloth = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint, receiveBufferSize: 4096);
        sloth.MaxFrameSize = ProtocolConstants.MaxJobFrameSize;
        Assert.IsType<Welcome>(await sloth.HandshakeAsync(RawProtocolClient.MakeHello("sloth", jobSlots: 1)));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Registry.TryGet("sloth", out var e) && e.Session is not null);
        Assert.True(fixture.Hub.Registry.TryGet("sloth", out var entry));
        var session = entry.Session!;

        // It reports results for jobs it never reads: each frees its slot, and the next 1 MiB job piles up.
        for (var i = 0; i < 64 && !session.IsClosed; i++)
        {
            var submitted = MakeJob(content: new byte[1024 * 1024], target: "agent:sloth");
            await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
            await WaitForStateAsync(fixture, submitted.Id, JobStates.Running);
            if (session.IsClosed)
            {
                break;
            }

            await sloth.SendAsync(new JobResult(submitted.Id, 1, JobOutcome.Completed, 0, 1, Array.Empty<byte>(), Array.Empty<byte>(), Array.Empty<byte>(), string.Empty));
            await WaitUntilAnyAsync(() => session.IsClosed || fixture.Hub.Jobs.InFlightOn("sloth") == 0);
        }

        Assert.True(session.IsClosed, "the hub should have given up on an agent that does not read");
        await HubFixture.WaitUntilAsync(() => entry.LastDisconnectReason?.StartsWith(nameof(DisconnectReason.SlowConsumer), StringComparison.Ordinal) == true);
        Assert.True(session.BacklogBytes <= 2L * fixture.Hub.Options.MaxJobFrameSize + (1024 * 1024));
    }

    [Fact]
    public async Task A_job_agent_may_send_results_larger_than_the_plain_frame_cap()
    {
        await using var fixture = await StartAsync();
        await using var agent = await ConnectAgentAsync(fixture, "big-out", slots: 1);
        var submitted = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await agent.ReceiveAsync<Job>();
        var outFile = new byte[fixture.Hub.Options.MaxResultSize];
        await CompleteAsync(agent, job, new JobResult(job.JobId, job.Attempt, JobOutcome.Completed, 0, 5, Array.Empty<byte>(), Array.Empty<byte>(), outFile, string.Empty));
        Assert.Equal(outFile.Length, (await fixture.JobStore.GetResultAsync(submitted.Id, withOutFile: true, CancellationToken.None))!.OutFile.Length);
    }

    private static Task WaitUntilAnyAsync(Func<bool> condition) => HubFixture.WaitUntilAsync(condition);

    /// <summary>The first of two agents to receive a job, and the other one.</summary>
    private static async Task<(Job Job, RawProtocolClient Got, RawProtocolClient Other)> ReceiveFromEitherAsync(RawProtocolClient a, RawProtocolClient b)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var (got, other) in new[] { (a, b), (b, a) })
            {
                try
                {
                    return (await got.ReceiveAsync<Job>(TimeSpan.FromMilliseconds(100)), got, other);
                }
                catch (TimeoutException)
                {
                }
            }
        }

        throw new TimeoutException("neither agent got the job");
    }
}
