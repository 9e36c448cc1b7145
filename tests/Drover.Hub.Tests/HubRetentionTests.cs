using System.Net;
using System.Net.Http.Json;
using Drover.Api;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using static Drover.Hub.Tests.JobTestKit;

namespace Drover.Hub.Tests;

/// <summary>Retention of finished jobs (<see cref="HubOptions.KeepFinishedJobs"/>): the sweep prunes them from the
/// store once a minute, over a real SQLite file, with fake time.</summary>
public sealed class HubRetentionTests
{
    [Fact]
    public async Task Finished_jobs_older_than_the_retention_disappear_newer_and_active_ones_stay()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, o => o with { KeepFinishedJobs = TimeSpan.FromSeconds(30) });
        using var http = fixture.CreateApiClient();
        await using var agent = await ConnectAgentAsync(fixture, "keeper", slots: 4);
        var done = MakeJob("done");
        var dead = MakeJob("dead", retries: 0);
        var running = MakeJob("running", timeout: TimeSpan.FromHours(1));
        var queued = MakeJob("queued", target: "agent:ghost", timeout: TimeSpan.FromHours(1));
        var cancelled = MakeJob("cancelled", target: "agent:ghost", timeout: TimeSpan.FromHours(1));
        await fixture.Hub.Jobs.SubmitAsync([done, dead, running, queued, cancelled], CancellationToken.None);

        var frames = new Dictionary<string, Job>();
        for (var i = 0; i < 3; i++)
        {
            var job = await agent.ReceiveAsync<Job>();
            frames[job.JobId] = job;
        }

        await CompleteAsync(agent, frames[done.Id]);
        await CompleteAsync(agent, frames[dead.Id], Result(frames[dead.Id], JobOutcome.Completed, exitCode: 3, error: "exit code 3"));
        await agent.SendAsync(new JobAccepted(running.Id, 1));
        Assert.Equal(CancelResult.Cancelled, (await fixture.Hub.Jobs.CancelAsync(cancelled.Id, CancellationToken.None)).Result);
        await WaitForStateAsync(fixture, done.Id, JobStates.Done);
        await WaitForStateAsync(fixture, dead.Id, JobStates.Dead);
        await WaitForStateAsync(fixture, running.Id, JobStates.Running);

        // 40 s later another job finishes; 25 s after that, the prune due at the minute takes what finished more
        // than 30 s before it: the three old ones, not the newer one.
        await AdvanceAsync(time, TimeSpan.FromSeconds(40));
        var newer = MakeJob("newer");
        await fixture.Hub.Jobs.SubmitAsync([newer], CancellationToken.None);
        await CompleteAsync(agent, await agent.ReceiveAsync<Job>());
        await WaitForStateAsync(fixture, newer.Id, JobStates.Done);
        await AdvanceAsync(time, TimeSpan.FromSeconds(25));

        await WaitGoneAsync(fixture, done.Id, dead.Id, cancelled.Id);
        Assert.Null(await fixture.JobStore.GetResultAsync(done.Id, withOutFile: true, CancellationToken.None));
        Assert.Equal(JobStates.Done, (await fixture.JobStore.GetJobAsync(newer.Id, withContent: false, CancellationToken.None))!.State);
        Assert.Equal(JobStates.Running, (await fixture.JobStore.GetJobAsync(running.Id, withContent: false, CancellationToken.None))!.State);
        Assert.Equal(JobStates.Queued, (await fixture.JobStore.GetJobAsync(queued.Id, withContent: false, CancellationToken.None))!.State);

        var page = await http.GetFromJsonAsync("api/jobs", ApiJsonContext.Default.JobPage);
        Assert.Equal(new[] { running.Id, queued.Id, newer.Id }.Order(StringComparer.Ordinal), page!.Items.Select(j => j.Id).Order(StringComparer.Ordinal));
        using (var gone = await http.GetAsync($"api/jobs/{done.Id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        using (var goneResult = await http.GetAsync($"api/jobs/{done.Id}/result"))
        {
            Assert.Equal(HttpStatusCode.NotFound, goneResult.StatusCode);
        }

        // A late duplicate of a pruned job's result is acknowledged and changes nothing.
        await agent.SendAsync(Result(frames[done.Id]));
        Assert.Equal(done.Id, (await agent.ReceiveAsync<JobResultAck>()).JobId);
        Assert.Null(await fixture.JobStore.GetJobAsync(done.Id, withContent: false, CancellationToken.None));

        // A minute later the newer one goes too; the running and queued jobs never do.
        await AdvanceAsync(time, TimeSpan.FromSeconds(60));
        await WaitGoneAsync(fixture, newer.Id);
        Assert.Equal(JobStates.Running, (await fixture.JobStore.GetJobAsync(running.Id, withContent: false, CancellationToken.None))!.State);
        Assert.Equal(JobStates.Queued, (await fixture.JobStore.GetJobAsync(queued.Id, withContent: false, CancellationToken.None))!.State);
        Assert.Equal(2, fixture.Hub.Jobs.ActiveCount);
    }

    [Fact]
    public async Task The_sweep_prunes_at_most_once_a_minute()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time, o => o with { KeepFinishedJobs = TimeSpan.FromSeconds(1) });
        await using var agent = await ConnectAgentAsync(fixture, "minute", slots: 1);
        await AdvanceAsync(time, TimeSpan.FromSeconds(2)); // the first prune (at the first sweep) has run
        await fixture.Hub.Jobs.PruneTask;

        var job = MakeJob();
        await fixture.Hub.Jobs.SubmitAsync([job], CancellationToken.None);
        await CompleteAsync(agent, await agent.ReceiveAsync<Job>());
        await WaitForStateAsync(fixture, job.Id, JobStates.Done);
        await AdvanceAsync(time, TimeSpan.FromSeconds(30));
        await fixture.Hub.Jobs.PruneTask;
        Assert.NotNull(await fixture.JobStore.GetJobAsync(job.Id, withContent: false, CancellationToken.None));

        await AdvanceAsync(time, TimeSpan.FromSeconds(30));
        await WaitGoneAsync(fixture, job.Id);
    }

    [Fact]
    public void Keep_finished_jobs_must_be_positive()
    {
        new HubOptions().Validate();
        Assert.Equal(TimeSpan.FromHours(24), new HubOptions().KeepFinishedJobs);
        Assert.Contains("keep-finished", Assert.Throws<ArgumentException>(() => new HubOptions { KeepFinishedJobs = TimeSpan.Zero }.Validate()).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new HubOptions { KeepFinishedJobs = TimeSpan.FromSeconds(-1) }.Validate());
    }

    private static async Task WaitGoneAsync(HubFixture fixture, params string[] ids)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        foreach (var id in ids)
        {
            while (await fixture.JobStore.GetJobAsync(id, withContent: false, CancellationToken.None) is { } job)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"job {id} was not pruned; it is {job.State}, finished at {job.FinishedAt:O}");
                }

                await Task.Delay(20);
            }
        }
    }
}
