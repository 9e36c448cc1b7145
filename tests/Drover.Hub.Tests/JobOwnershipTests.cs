using System.Text.Json;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using static Drover.Hub.Tests.JobTestKit;

namespace Drover.Hub.Tests;

/// <summary>An attempt belongs to the agent id it was leased to: another agent (with the same token) cannot finish,
/// accept or hand back it; what it sends is refused, counted (/api/stats jobs.foreignMessages) and logged at most once
/// a minute, and the owner's own result is then recorded.</summary>
public sealed class JobOwnershipTests
{
    private const int ForeignEvent = 509;

    [Fact]
    public async Task A_result_for_another_agents_attempt_is_not_recorded_and_the_owners_result_is()
    {
        var time = new FakeTimeProvider(Start);
        var log = new LogCapture();
        await using var fixture = await StartAsync(time, loggers: log.Factory);
        await using var owner = await ConnectAgentAsync(fixture, "owner-a", slots: 1);
        await using var other = await ConnectAgentAsync(fixture, "other-b", slots: 1);
        var submitted = MakeJob(target: "agent:owner-a", timeout: TimeSpan.FromMinutes(5));
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await owner.ReceiveAsync<Job>();
        await owner.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Running);

        // B claims A's attempt: a success, then a failure (the cancel ack shape). Neither is acknowledged nor recorded.
        await other.SendAsync(Result(job));
        await other.SendAsync(Result(job, JobOutcome.Cancelled, exitCode: 137));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ForeignMessages == 2);
        await AssertNoneAsync<JobResultAck>(other);
        var running = await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None);
        Assert.Equal((JobStates.Running, 1, "owner-a"), (running!.State, running.Attempt, running.LeaseOwner));
        Assert.Null(await fixture.JobStore.GetResultAsync(submitted.Id, withOutFile: false, CancellationToken.None));

        // Its job_accepted is answered like any attempt it does not hold; its job_busy hands nothing back.
        await other.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        var cancel = await other.ReceiveAsync<JobCancel>();
        Assert.Equal((job.JobId, job.Attempt, JobDispatcher.NotLeasedReason), (cancel.JobId, cancel.Attempt, cancel.Reason));
        await other.SendAsync(new JobBusy(job.JobId, job.Attempt, "not mine"));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ForeignMessages == 4);
        Assert.Equal(1, fixture.Hub.Jobs.InFlightOn("owner-a"));
        Assert.Equal(0, fixture.Hub.Jobs.InFlightOn("other-b"));
        Assert.Equal(JobStates.Running, (await fixture.JobStore.GetJobAsync(submitted.Id, withContent: false, CancellationToken.None))!.State);

        // The session of B goes on (the hub refuses the message, not the agent), and the count is in /api/stats.
        await other.SendAsync(new Ping(42));
        Assert.Equal(42ul, (await other.ReceiveAsync<Pong>()).Value);
        using var http = fixture.CreateApiClient();
        using var stats = JsonDocument.Parse(await http.GetStringAsync("/api/stats"));
        Assert.Equal(4, stats.RootElement.GetProperty("jobs").GetProperty("foreignMessages").GetInt64());

        // One line for the four (at most one a minute); the next minute's first message logs again, with its count.
        var lines = log.WithEvent(ForeignEvent);
        Assert.Single(lines);
        Assert.Contains("other-b", lines[0].Message, StringComparison.Ordinal);
        Assert.Contains("owner-a", lines[0].Message, StringComparison.Ordinal);
        time.Advance(TimeSpan.FromSeconds(61));
        await other.SendAsync(Result(job));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.ForeignMessages == 5);
        Assert.Equal(2, log.WithEvent(ForeignEvent).Count);

        // A's real result is recorded as A's.
        await owner.SendAsync(Result(job, exitCode: 0));
        var ack = await owner.ReceiveAsync<JobResultAck>();
        Assert.Equal((job.JobId, job.Attempt), (ack.JobId, ack.Attempt));
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
        var result = await fixture.JobStore.GetResultAsync(submitted.Id, withOutFile: false, CancellationToken.None);
        Assert.Equal(("owner-a", "completed", 0), (result!.AgentId, result.Outcome, result.ExitCode));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.Jobs.InFlightOn("owner-a") == 0);
    }

    [Fact]
    public async Task A_new_session_of_the_same_agent_id_carries_its_attempt_on()
    {
        await using var fixture = await StartAsync();
        var first = await ConnectAgentAsync(fixture, "same-id", slots: 1);
        var submitted = MakeJob(timeout: TimeSpan.FromMinutes(5));
        await fixture.Hub.Jobs.SubmitAsync([submitted], CancellationToken.None);
        var job = await first.ReceiveAsync<Job>();
        await first.SendAsync(new JobAccepted(job.JobId, job.Attempt));

        // The same id from a new connection takes over while the first is still open (a reconnect the hub has not
        // noticed yet): its re-announcement and its result are the agent's own, not foreign.
        await using var second = await ConnectAgentAsync(fixture, "same-id", slots: 1);
        await first.DisposeAsync();
        await second.SendAsync(new JobAccepted(job.JobId, job.Attempt));
        await AssertNoneAsync<JobCancel>(second);
        await second.SendAsync(Result(job));
        await second.ReceiveAsync<JobResultAck>();
        await WaitForStateAsync(fixture, submitted.Id, JobStates.Done);
        Assert.Equal(0, fixture.Hub.Jobs.ForeignMessages);
    }
}
