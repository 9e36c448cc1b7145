namespace Drover.Storage.Tests;

/// <summary>The behaviour every <see cref="IJobStore"/> must have. An implementation's test class derives
/// from this and says how to create and reopen a store; every test here then runs against it.</summary>
public abstract class JobStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<IJobStore> _opened = [];

    /// <summary>A new, empty store called <paramref name="name"/>, already initialized.</summary>
    protected abstract Task<IJobStore> CreateStoreAsync(string name);

    /// <summary>The existing store called <paramref name="name"/> opened again (after the previous
    /// instance was disposed), initialized.</summary>
    protected abstract Task<IJobStore> ReopenStoreAsync(string name);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (IJobStore store in _opened)
        {
            await store.DisposeAsync();
        }
    }

    protected async Task<IJobStore> NewStoreAsync(string name = "jobs")
    {
        IJobStore store = await CreateStoreAsync(name);
        _opened.Add(store);
        return store;
    }

    protected async Task<IJobStore> ReopenAsync(string name = "jobs")
    {
        IJobStore store = await ReopenStoreAsync(name);
        _opened.Add(store);
        return store;
    }

    protected static JobRecord Job(string id, int priority = 0, int maxRetries = 2, DateTimeOffset? submittedAt = null, byte[]? content = null) => new()
    {
        Id = id,
        Priority = priority,
        Target = "label:role=build",
        FileName = id + ".sh",
        FileSize = content?.Length ?? 3,
        Sha256 = System.Security.Cryptography.SHA256.HashData(content ?? [0x65, 0x63, 0x68]),
        Content = content ?? [0x65, 0x63, 0x68],
        Args = "--fast \"quoted\"",
        Timeout = TimeSpan.FromMinutes(5),
        MaxRetries = maxRetries,
        SubmittedAt = submittedAt ?? T0,
    };

    protected static JobResultRecord Result(string jobId, int attempt, string agent = "agent-1", string outcome = "ok", string error = "") => new()
    {
        JobId = jobId,
        Attempt = attempt,
        AgentId = agent,
        Outcome = outcome,
        ExitCode = outcome == "ok" ? 0 : 3,
        DurationMs = 1234,
        StdoutTail = [1, 2],
        StderrTail = [3],
        OutFile = [9, 9, 9],
        Error = error,
        RecordedAt = T0.AddMinutes(attempt),
    };

    protected static Task SubmitAsync(IJobStore store, params JobRecord[] jobs) => store.SubmitAsync(jobs, CancellationToken.None);

    protected static Task<bool> LeaseAsync(IJobStore store, string id, int attempt, string agent = "agent-1", DateTimeOffset? expires = null) =>
        store.LeaseAsync(id, agent, attempt, expires ?? T0.AddMinutes(10), CancellationToken.None);

    protected static async Task<JobRecord> GetAsync(IJobStore store, string id)
    {
        JobRecord? job = await store.GetJobAsync(id, withContent: true, CancellationToken.None);
        Assert.NotNull(job);
        return job;
    }

    [Fact]
    public async Task Job_round_trips_every_field()
    {
        IJobStore store = await NewStoreAsync();
        JobRecord job = Job("job-1", priority: -4, maxRetries: 7, submittedAt: T0.AddMilliseconds(17), content: [0, 1, 2, 255]) with
        {
            Target = "agent:ü-7",
            FileSize = 4,
            Timeout = TimeSpan.FromMilliseconds(90_500),
        };

        await SubmitAsync(store, job);

        JobRecord read = await GetAsync(store, "job-1");
        Assert.Equal(job.Content, read.Content);
        Assert.Equal(job.Sha256, read.Sha256);
        Assert.Equal(job with { Content = [], Sha256 = [] }, read with { Content = [], Sha256 = [] });
        Assert.Null(await store.GetJobAsync("nope", withContent: true, CancellationToken.None));
    }

    [Fact]
    public async Task A_job_read_without_content_has_every_other_field_and_no_content()
    {
        IJobStore store = await NewStoreAsync();
        JobRecord job = Job("job-1", content: [1, 2, 3]) with { FileSize = 3 };
        await SubmitAsync(store, job);

        JobRecord? read = await store.GetJobAsync("job-1", withContent: false, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Empty(read.Content);
        Assert.Equal(job.Sha256, read.Sha256);
        Assert.Equal(job with { Content = [], Sha256 = [] }, read with { Content = [], Sha256 = [] });
        Assert.Null(await store.GetJobAsync("nope", withContent: false, CancellationToken.None));
    }

    [Fact]
    public async Task Ten_thousand_jobs_in_one_call_are_durable()
    {
        const int count = 10_000;
        IJobStore store = await NewStoreAsync("durable");
        JobRecord[] jobs = [.. Enumerable.Range(0, count).Select(i => Job($"job-{i:D5}", priority: i % 3, submittedAt: T0.AddMilliseconds(i), content: BitConverter.GetBytes(i)))];

        await store.SubmitAsync(jobs, CancellationToken.None);
        await store.DisposeAsync();
        IJobStore reopened = await ReopenAsync("durable");

        Assert.Equal(count, await reopened.CountQueuedAsync(CancellationToken.None));
        IReadOnlyList<JobRecord> all = await reopened.LoadQueuedAsync(count + 10, CancellationToken.None);
        Assert.Equal(count, all.Count);
        Assert.Equal(jobs.Select(j => j.Id).Order(StringComparer.Ordinal), all.Select(j => j.Id).Order(StringComparer.Ordinal));
        Assert.Equal(BitConverter.GetBytes(4321), (await GetAsync(reopened, "job-04321")).Content);
    }

    [Fact]
    public async Task A_batch_with_a_duplicate_id_fails_whole_and_stores_nothing()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("existing"));

        await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("a"), Job("b"), Job("existing"), Job("c")));
        await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("x"), Job("y"), Job("x")));

        Assert.Equal(["existing"], (await store.ListJobsAsync(null, null, 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(1, await store.CountQueuedAsync(CancellationToken.None));

        await SubmitAsync(store, Job("a"));
        Assert.Equal(2, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_submission_cancelled_midway_stores_nothing_and_the_store_stays_usable()
    {
        IJobStore store = await NewStoreAsync();
        using var cts = new CancellationTokenSource();
        JobRecord[] jobs = [.. Enumerable.Range(0, 50).Select(i => Job($"j{i}"))];
        var gated = new GatedList<JobRecord>(jobs, 20, cts.Cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Run(() => store.SubmitAsync(gated, cts.Token)));

        Assert.Equal(0, await store.CountQueuedAsync(CancellationToken.None));
        await SubmitAsync(store, jobs);
        Assert.Equal(50, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_job_that_is_not_new_is_rejected_before_anything_is_written()
    {
        IJobStore store = await NewStoreAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("a"), Job("b") with { State = JobStates.Running }));
        await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("c") with { Attempt = 1 }));
        await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("d") with { Content = new byte[JobRecord.MaxContentBytes + 1] }));

        Assert.Equal(0, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Content_of_16_MiB_round_trips()
    {
        IJobStore store = await NewStoreAsync();
        byte[] content = new byte[JobRecord.MaxContentBytes];
        new Random(7).NextBytes(content);

        await SubmitAsync(store, Job("big", content: content));

        Assert.Equal(content, (await GetAsync(store, "big")).Content);
        Assert.True(await LeaseAsync(store, "big", 1));
        Assert.Equal(content, (await GetAsync(store, "big")).Content);
    }

    [Fact]
    public async Task Lease_only_from_queued_and_only_once()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));

        Assert.True(await LeaseAsync(store, "a", 1, "agent-1", T0.AddMinutes(3)));
        Assert.False(await LeaseAsync(store, "a", 1, "agent-2"));
        Assert.False(await LeaseAsync(store, "a", 2, "agent-2"));
        Assert.False(await LeaseAsync(store, "missing", 1));

        JobRecord job = await GetAsync(store, "a");
        Assert.Equal(JobStates.Running, job.State);
        Assert.Equal(1, job.Attempt);
        Assert.Equal("agent-1", job.LeaseOwner);
        Assert.Equal(T0.AddMinutes(3), job.LeaseExpiresAt);
        Assert.Equal(0, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_leases_of_one_job_let_exactly_one_win()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));

        bool[] won = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => LeaseAsync(store, "a", 1, $"agent-{i}"))));

        Assert.Equal(1, won.Count(w => w));
    }

    [Fact]
    public async Task Lease_needs_an_attempt_above_the_current_one()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));
        Assert.True(await LeaseAsync(store, "a", 1));
        Assert.Equal(1, await store.RequeueAsync("a", 1, "agent-lost", CancellationToken.None));

        Assert.False(await LeaseAsync(store, "a", 1));
        Assert.True(await LeaseAsync(store, "a", 2));
    }

    [Fact]
    public async Task Success_is_recorded_once_then_duplicate()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));
        await LeaseAsync(store, "a", 1);
        JobResultRecord result = Result("a", 1);

        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(result, success: true, CancellationToken.None));
        Assert.Equal(ResultRecording.Duplicate, await store.RecordResultAsync(result, success: true, CancellationToken.None));
        Assert.Equal(ResultRecording.Duplicate, await store.RecordResultAsync(result with { Outcome = "other" }, success: false, CancellationToken.None));

        JobRecord job = await GetAsync(store, "a");
        Assert.Equal(JobStates.Done, job.State);
        Assert.Equal(result.RecordedAt, job.FinishedAt);
        Assert.Null(job.LeaseOwner);
        Assert.Null(job.LeaseExpiresAt);
        Assert.Equal("agent-1", job.LastAgent);
        JobResultRecord? stored = await store.GetResultAsync("a", withOutFile: true, CancellationToken.None);
        Assert.NotNull(stored);
        Assert.Equal(result.StdoutTail, stored.StdoutTail);
        Assert.Equal(result.StderrTail, stored.StderrTail);
        Assert.Equal(result.OutFile, stored.OutFile);
        Assert.Equal(result with { StdoutTail = [], StderrTail = [], OutFile = [] }, stored with { StdoutTail = [], StderrTail = [], OutFile = [] });

        // Without the out file: everything else the same, the file empty; an unknown job still null.
        JobResultRecord? light = await store.GetResultAsync("a", withOutFile: false, CancellationToken.None);
        Assert.NotNull(light);
        Assert.Empty(light.OutFile);
        Assert.Equal(result.StdoutTail, light.StdoutTail);
        Assert.Equal(result.StderrTail, light.StderrTail);
        Assert.Equal(result with { StdoutTail = [], StderrTail = [], OutFile = [] }, light with { StdoutTail = [], StderrTail = [], OutFile = [] });
        Assert.Null(await store.GetResultAsync("nope", withOutFile: false, CancellationToken.None));
    }

    [Fact]
    public async Task Unknown_job_and_not_running_results_change_nothing()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("queued"), Job("cancelled"));
        await LeaseAsync(store, "cancelled", 1);
        await store.CancelAsync("cancelled", CancellationToken.None);

        Assert.Equal(ResultRecording.UnknownJob, await store.RecordResultAsync(Result("ghost", 1), true, CancellationToken.None));
        Assert.Equal(ResultRecording.NotRunning, await store.RecordResultAsync(Result("cancelled", 1), true, CancellationToken.None));
        Assert.Equal(ResultRecording.NotRunning, await store.RecordResultAsync(Result("queued", 0), true, CancellationToken.None));

        Assert.Equal(JobStates.Cancelled, (await GetAsync(store, "cancelled")).State);
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "queued")).State);
        Assert.Null(await store.GetResultAsync("cancelled", withOutFile: true, CancellationToken.None));
        Assert.Null(await store.GetResultAsync("ghost", withOutFile: true, CancellationToken.None));
    }

    [Fact]
    public async Task A_result_for_an_older_attempt_after_a_requeue_is_stale()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));
        await LeaseAsync(store, "a", 1, "agent-1");
        Assert.Equal(1, await store.RequeueAsync("a", 1, "lease-expired", CancellationToken.None));

        // Given up but not yet leased again: the late result is stale too.
        Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result("a", 1, "agent-1"), true, CancellationToken.None));
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "a")).State);

        await LeaseAsync(store, "a", 2, "agent-2");
        Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result("a", 1, "agent-1"), true, CancellationToken.None));
        Assert.Equal(JobStates.Running, (await GetAsync(store, "a")).State);
        Assert.Null(await store.GetResultAsync("a", withOutFile: true, CancellationToken.None));

        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("a", 2, "agent-2"), true, CancellationToken.None));
        Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result("a", 1, "agent-1"), true, CancellationToken.None));
        Assert.Equal(2, (await store.GetResultAsync("a", withOutFile: true, CancellationToken.None))!.Attempt);
        Assert.Equal(JobStates.Done, (await GetAsync(store, "a")).State);
    }

    [Fact]
    public async Task Failures_requeue_until_max_retries_then_the_job_is_dead_with_the_reason()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a", maxRetries: 2));

        for (int attempt = 1; attempt <= 2; attempt++)
        {
            Assert.True(await LeaseAsync(store, "a", attempt, $"agent-{attempt}"));
            Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("a", attempt, $"agent-{attempt}", "exit-nonzero", $"boom {attempt}"), false, CancellationToken.None));
            Assert.Equal(ResultRecording.Duplicate, await store.RecordResultAsync(Result("a", attempt, $"agent-{attempt}", "exit-nonzero", $"boom {attempt}"), false, CancellationToken.None));
            JobRecord queued = await GetAsync(store, "a");
            Assert.Equal(JobStates.Queued, queued.State);
            Assert.Equal(attempt, queued.Attempt);
            Assert.Null(queued.LeaseOwner);
            Assert.Equal($"agent-{attempt}", queued.LastAgent);
            Assert.Null(queued.FinishedAt);
        }

        Assert.True(await LeaseAsync(store, "a", 3, "agent-3"));
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("a", 3, "agent-3", "exit-nonzero", "boom 3"), false, CancellationToken.None));

        JobRecord dead = await GetAsync(store, "a");
        Assert.Equal(JobStates.Dead, dead.State);
        Assert.Equal("boom 3", dead.DeadReason);
        Assert.Equal(T0.AddMinutes(3), dead.FinishedAt);
        Assert.False(await LeaseAsync(store, "a", 4));
        Assert.Equal(3, (await store.GetResultAsync("a", withOutFile: true, CancellationToken.None))!.Attempt);
        Assert.Equal(ResultRecording.Duplicate, await store.RecordResultAsync(Result("a", 1, "agent-1", "exit-nonzero", "boom 1"), false, CancellationToken.None));

        // Every ended attempt stays listed, oldest first, with its agent and how it ended.
        IReadOnlyList<JobAttemptRecord> attempts = await store.ListAttemptsAsync("a", CancellationToken.None);
        Assert.Equal([1, 2, 3], attempts.Select(a => a.Attempt));
        Assert.Equal(["agent-1", "agent-2", "agent-3"], attempts.Select(a => a.AgentId));
        Assert.All(attempts, a => Assert.Equal("exit-nonzero", a.Outcome));
        Assert.Equal(["boom 1", "boom 2", "boom 3"], attempts.Select(a => a.Error));
        Assert.All(attempts, a => Assert.True(a.FromResult));
        Assert.Empty(await store.ListAttemptsAsync("no-such-job", CancellationToken.None));
    }

    [Fact]
    public async Task A_failure_without_an_error_dies_with_its_outcome_as_the_reason()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a", maxRetries: 0));
        await LeaseAsync(store, "a", 1);

        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("a", 1, outcome: "timeout"), false, CancellationToken.None));

        JobRecord dead = await GetAsync(store, "a");
        Assert.Equal(JobStates.Dead, dead.State);
        Assert.Equal("timeout", dead.DeadReason);
    }

    [Fact]
    public async Task Requeue_of_expired_leases_then_dead_when_retries_are_used_up()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("short", maxRetries: 1), Job("long", maxRetries: 1), Job("queued"));
        await LeaseAsync(store, "short", 1, "agent-1", T0.AddMinutes(1));
        await LeaseAsync(store, "long", 1, "agent-2", T0.AddMinutes(30));

        IReadOnlyList<JobRecord> expired = await store.ExpiredLeasesAsync(T0.AddMinutes(5), CancellationToken.None);
        Assert.Equal(["short"], expired.Select(j => j.Id));
        Assert.Empty(expired[0].Content);
        Assert.Empty(await store.ExpiredLeasesAsync(T0, CancellationToken.None));
        Assert.Equal(2, (await store.ExpiredLeasesAsync(T0.AddMinutes(30), CancellationToken.None)).Count);

        Assert.Equal(1, await store.RequeueAsync("short", 1, "lease-expired", CancellationToken.None));
        Assert.Equal(0, await store.RequeueAsync("short", 1, "lease-expired", CancellationToken.None));
        Assert.Equal(0, await store.RequeueAsync("long", 7, "wrong attempt", CancellationToken.None));
        Assert.Equal(0, await store.RequeueAsync("queued", 0, "not running", CancellationToken.None));
        Assert.Equal(0, await store.RequeueAsync("ghost", 1, "unknown", CancellationToken.None));

        JobRecord requeued = await GetAsync(store, "short");
        Assert.Equal(JobStates.Queued, requeued.State);
        Assert.Equal("agent-1", requeued.LastAgent);
        Assert.Null(requeued.LeaseOwner);
        Assert.Null(requeued.LeaseExpiresAt);
        Assert.Empty(await store.ExpiredLeasesAsync(T0.AddMinutes(5), CancellationToken.None));

        await LeaseAsync(store, "short", 2, "agent-3", T0.AddMinutes(1));
        Assert.Equal(1, await store.RequeueAsync("short", 2, "agent-died", CancellationToken.None));
        JobRecord dead = await GetAsync(store, "short");
        Assert.Equal(JobStates.Dead, dead.State);
        Assert.Equal("agent-died", dead.DeadReason);
        Assert.NotNull(dead.FinishedAt);
        Assert.Equal("agent-3", dead.LastAgent);
    }

    [Fact]
    public async Task Cancel_queued_or_running_only()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("queued"), Job("running"), Job("done"));
        await LeaseAsync(store, "running", 1, "agent-9");
        await LeaseAsync(store, "done", 1);
        await store.RecordResultAsync(Result("done", 1), true, CancellationToken.None);

        Assert.True(await store.CancelAsync("queued", CancellationToken.None));
        Assert.True(await store.CancelAsync("running", CancellationToken.None));
        Assert.False(await store.CancelAsync("queued", CancellationToken.None));
        Assert.False(await store.CancelAsync("done", CancellationToken.None));
        Assert.False(await store.CancelAsync("ghost", CancellationToken.None));

        JobRecord running = await GetAsync(store, "running");
        Assert.Equal(JobStates.Cancelled, running.State);
        Assert.Equal("agent-9", running.LastAgent);
        Assert.Null(running.LeaseOwner);
        Assert.NotNull(running.FinishedAt);
        Assert.Equal(JobStates.Done, (await GetAsync(store, "done")).State);
        Assert.False(await LeaseAsync(store, "queued", 1));
        Assert.Equal(0, await store.RequeueAsync("running", 1, "late", CancellationToken.None));
        Assert.Empty(await store.ExpiredLeasesAsync(T0.AddDays(1), CancellationToken.None));
        Assert.Equal(0, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Listing_filters_by_state_and_agent_and_pages_by_id_without_content()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, [.. Enumerable.Range(0, 10).Select(i => Job($"j{i:D2}"))]);
        await LeaseAsync(store, "j03", 1, "agent-a");
        await LeaseAsync(store, "j05", 1, "agent-b");
        await LeaseAsync(store, "j07", 1, "agent-a");
        await store.RecordResultAsync(Result("j07", 1, "agent-a"), true, CancellationToken.None);

        IReadOnlyList<JobRecord> page1 = await store.ListJobsAsync(null, null, 4, null, CancellationToken.None);
        IReadOnlyList<JobRecord> page2 = await store.ListJobsAsync(null, null, 4, page1[^1].Id, CancellationToken.None);
        IReadOnlyList<JobRecord> page3 = await store.ListJobsAsync(null, null, 4, page2[^1].Id, CancellationToken.None);

        Assert.Equal(["j00", "j01", "j02", "j03"], page1.Select(j => j.Id));
        Assert.Equal(["j04", "j05", "j06", "j07"], page2.Select(j => j.Id));
        Assert.Equal(["j08", "j09"], page3.Select(j => j.Id));
        Assert.All(page1.Concat(page2).Concat(page3), j => Assert.Empty(j.Content));
        Assert.Equal(System.Security.Cryptography.SHA256.HashData([0x65, 0x63, 0x68]), page1[0].Sha256);

        Assert.Equal(["j03", "j05"], (await store.ListJobsAsync(JobStates.Running, null, 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(["j03", "j07"], (await store.ListJobsAsync(null, "agent-a", 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(["j07"], (await store.ListJobsAsync(JobStates.Done, "agent-a", 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(["j06", "j08"], (await store.ListJobsAsync(JobStates.Queued, null, 2, "j04", CancellationToken.None)).Select(j => j.Id));
        Assert.Empty(await store.ListJobsAsync(JobStates.Dead, null, 100, null, CancellationToken.None));

        // The newest first, paged backwards by id.
        IReadOnlyList<JobRecord> newest = await store.ListJobsAsync(null, null, null, 3, null, newestFirst: true, CancellationToken.None);
        Assert.Equal(["j09", "j08", "j07"], newest.Select(j => j.Id));
        Assert.Equal(["j06", "j05"], (await store.ListJobsAsync(null, null, null, 2, newest[^1].Id, newestFirst: true, CancellationToken.None)).Select(j => j.Id));
        Assert.Empty(await store.ListJobsAsync(null, null, 0, null, CancellationToken.None));
    }

    [Fact]
    public async Task Load_queued_is_by_priority_then_submission_with_content()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(
            store,
            Job("low-old", priority: 1, submittedAt: T0),
            Job("high-new", priority: 9, submittedAt: T0.AddSeconds(5)),
            Job("mid", priority: 5, submittedAt: T0.AddSeconds(1)),
            Job("high-old", priority: 9, submittedAt: T0.AddSeconds(1)),
            Job("low-new", priority: 1, submittedAt: T0.AddSeconds(9)),
            Job("leased", priority: 100, submittedAt: T0));
        await LeaseAsync(store, "leased", 1);

        IReadOnlyList<JobRecord> queued = await store.LoadQueuedAsync(10, CancellationToken.None);

        Assert.Equal(["high-old", "high-new", "mid", "low-old", "low-new"], queued.Select(j => j.Id));
        Assert.All(queued, j => Assert.Equal([0x65, 0x63, 0x68], j.Content));
        Assert.Equal(["high-old", "high-new"], (await store.LoadQueuedAsync(2, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(5, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Job_state_survives_reopen()
    {
        IJobStore store = await NewStoreAsync("states");
        await SubmitAsync(store, Job("done"), Job("running"));
        await LeaseAsync(store, "done", 1);
        await LeaseAsync(store, "running", 1, "agent-7", T0.AddMinutes(2));
        await store.RecordResultAsync(Result("done", 1), true, CancellationToken.None);
        await store.DisposeAsync();

        IJobStore reopened = await ReopenAsync("states");

        Assert.Equal(JobStates.Done, (await GetAsync(reopened, "done")).State);
        Assert.Equal(1, (await reopened.GetResultAsync("done", withOutFile: true, CancellationToken.None))!.Attempt);
        Assert.Equal(["running"], (await reopened.ExpiredLeasesAsync(T0.AddMinutes(2), CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(ResultRecording.Duplicate, await reopened.RecordResultAsync(Result("done", 1), true, CancellationToken.None));
    }

    protected static Task<JobBatchOutcome> ApplyAsync(IJobStore store, JobBatch batch) => store.ApplyAsync(batch, CancellationToken.None);

    [Fact]
    public async Task Apply_runs_a_mixed_batch_and_reports_each_item_in_order()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("lease-me"), Job("done-me"), Job("fail-me", maxRetries: 0), Job("requeue-me"), Job("expire-me"));
        await LeaseAsync(store, "done-me", 1, "agent-1");
        await LeaseAsync(store, "fail-me", 1, "agent-2");
        await LeaseAsync(store, "requeue-me", 1, "agent-3");

        JobBatchOutcome outcome = await ApplyAsync(store, new JobBatch
        {
            Submit = [Job("new-1", content: [7, 7]), Job("new-2")],
            Leases =
            [
                new JobLease("lease-me", "agent-4", 1, T0.AddMinutes(4)),
                new JobLease("done-me", "agent-5", 2, T0.AddMinutes(4)),
                new JobLease("new-1", "agent-6", 1, T0.AddMinutes(6)),
                new JobLease("ghost", "agent-7", 1, T0.AddMinutes(4)),
            ],
            Results =
            [
                new JobResultSubmission(Result("done-me", 1, "agent-1"), true),
                new JobResultSubmission(Result("fail-me", 1, "agent-2", "exit-nonzero", "boom"), false),
                new JobResultSubmission(Result("new-1", 1, "agent-6"), true),
                new JobResultSubmission(Result("ghost", 1), true),
                new JobResultSubmission(Result("requeue-me", 5, "agent-3"), true),
                new JobResultSubmission(Result("expire-me", 0), true),
            ],
            Requeues = [new JobRequeue("requeue-me", 1, "agent-lost"), new JobRequeue("lease-me", 7, "wrong attempt")],
            Expire = [new JobExpiry("expire-me", "target offline"), new JobExpiry("done-me", "not queued"), new JobExpiry("ghost", "unknown")],
        });

        Assert.Equal([true, false, true, false], outcome.Leased);
        Assert.Equal(
            [ResultRecording.Recorded, ResultRecording.Recorded, ResultRecording.Recorded, ResultRecording.UnknownJob, ResultRecording.StaleAttempt, ResultRecording.NotRunning],
            outcome.Results);
        Assert.Equal([1, 0], outcome.Requeued);
        Assert.Equal([true, false, false], outcome.Expired);

        JobRecord leased = await GetAsync(store, "lease-me");
        Assert.Equal((JobStates.Running, 1, "agent-4", (DateTimeOffset?)T0.AddMinutes(4)), (leased.State, leased.Attempt, leased.LeaseOwner, leased.LeaseExpiresAt));
        Assert.Equal(JobStates.Done, (await GetAsync(store, "done-me")).State);
        JobRecord failed = await GetAsync(store, "fail-me");
        Assert.Equal((JobStates.Dead, "boom"), (failed.State, failed.DeadReason));
        JobRecord fresh = await GetAsync(store, "new-1");
        Assert.Equal((JobStates.Done, 1, "agent-6"), (fresh.State, fresh.Attempt, fresh.LastAgent));
        Assert.Equal([7, 7], fresh.Content);
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "new-2")).State);
        JobRecord requeued = await GetAsync(store, "requeue-me");
        Assert.Equal((JobStates.Queued, "agent-3"), (requeued.State, requeued.LastAgent));
        JobRecord expired = await GetAsync(store, "expire-me");
        Assert.Equal((JobStates.Dead, "target offline"), (expired.State, expired.DeadReason));
        Assert.NotNull(expired.FinishedAt);
        Assert.Null(await store.GetJobAsync("ghost", withContent: true, CancellationToken.None));
        Assert.Null(await store.GetResultAsync("ghost", withOutFile: true, CancellationToken.None));
        Assert.Null(await store.GetResultAsync("requeue-me", withOutFile: true, CancellationToken.None));
    }

    [Fact]
    public async Task Apply_runs_submits_then_leases_then_results_then_requeues_then_expiries()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("running", maxRetries: 3));
        await LeaseAsync(store, "running", 1, "agent-1");

        // Each later list sees what the earlier ones did: the submitted job is leased and finished, the
        // requeue comes after the result (so it finds nothing running), the expiry after the requeue.
        JobBatchOutcome outcome = await ApplyAsync(store, new JobBatch
        {
            Expire = [new JobExpiry("fresh", "too late"), new JobExpiry("running", "too late")],
            Requeues = [new JobRequeue("fresh", 1, "after the result"), new JobRequeue("running", 1, "agent-lost")],
            Results = [new JobResultSubmission(Result("fresh", 1, "agent-2"), true)],
            Leases = [new JobLease("fresh", "agent-2", 1, T0.AddMinutes(1))],
            Submit = [Job("fresh")],
        });

        Assert.Equal([true], outcome.Leased);
        Assert.Equal([ResultRecording.Recorded], outcome.Results);
        Assert.Equal([0, 1], outcome.Requeued);
        Assert.Equal([false, true], outcome.Expired);
        Assert.Equal(JobStates.Done, (await GetAsync(store, "fresh")).State);
        JobRecord expired = await GetAsync(store, "running");
        Assert.Equal((JobStates.Dead, "too late", 1, "agent-1"), (expired.State, expired.DeadReason, expired.Attempt, expired.LastAgent));
    }

    [Fact]
    public async Task Apply_records_a_second_result_for_the_same_attempt_in_one_batch_as_a_duplicate()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"), Job("b", maxRetries: 1));
        await LeaseAsync(store, "a", 1, "agent-1");
        await LeaseAsync(store, "b", 1, "agent-2");

        JobBatchOutcome outcome = await ApplyAsync(store, new JobBatch
        {
            Results =
            [
                new JobResultSubmission(Result("a", 1, "agent-1"), true),
                new JobResultSubmission(Result("b", 1, "agent-2", "exit-nonzero", "first"), false),
                new JobResultSubmission(Result("a", 1, "agent-1", "exit-nonzero", "again"), false),
                new JobResultSubmission(Result("b", 1, "agent-2", "exit-nonzero", "second"), false),
            ],
        });

        Assert.Equal([ResultRecording.Recorded, ResultRecording.Recorded, ResultRecording.Duplicate, ResultRecording.Duplicate], outcome.Results);
        Assert.Equal(JobStates.Done, (await GetAsync(store, "a")).State);
        Assert.Equal("ok", (await store.GetResultAsync("a", withOutFile: true, CancellationToken.None))!.Outcome);
        JobRecord b = await GetAsync(store, "b");
        Assert.Equal((JobStates.Queued, 1), (b.State, b.Attempt));
        Assert.Equal("first", (await store.GetResultAsync("b", withOutFile: true, CancellationToken.None))!.Error);
    }

    [Fact]
    public async Task Apply_is_all_or_nothing_when_a_submitted_id_already_exists()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("existing"), Job("queued"), Job("running"));
        await LeaseAsync(store, "running", 1, "agent-1");
        var batch = new JobBatch
        {
            Submit = [Job("new"), Job("existing")],
            Leases = [new JobLease("queued", "agent-2", 1, T0.AddMinutes(1))],
            Results = [new JobResultSubmission(Result("running", 1, "agent-1"), true)],
            Requeues = [new JobRequeue("running", 1, "agent-lost")],
            Expire = [new JobExpiry("existing", "too late")],
        };

        await Assert.ThrowsAsync<StoreException>(() => ApplyAsync(store, batch));

        Assert.Null(await store.GetJobAsync("new", withContent: true, CancellationToken.None));
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "queued")).State);
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "existing")).State);
        JobRecord running = await GetAsync(store, "running");
        Assert.Equal((JobStates.Running, "agent-1"), (running.State, running.LeaseOwner));
        Assert.Null(await store.GetResultAsync("running", withOutFile: true, CancellationToken.None));

        // The store is still usable, and the same changes without the bad submission go through.
        JobBatchOutcome outcome = await ApplyAsync(store, batch with { Submit = [Job("new")] });
        Assert.Equal([true], outcome.Leased);
        Assert.Equal([ResultRecording.Recorded], outcome.Results);
        Assert.Equal([0], outcome.Requeued);
        Assert.Equal([true], outcome.Expired);
        Assert.Equal(JobStates.Done, (await GetAsync(store, "running")).State);
    }

    [Fact]
    public async Task Apply_checks_every_item_before_writing_and_an_empty_batch_does_nothing()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("queued"));

        await Assert.ThrowsAnyAsync<ArgumentException>(() => ApplyAsync(store, new JobBatch
        {
            Submit = [Job("new")],
            Leases = [new JobLease("queued", "agent-1", 1, T0), new JobLease("queued", "agent-1", 0, T0)],
        }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => ApplyAsync(store, new JobBatch
        {
            Submit = [Job("new"), Job("bad") with { Attempt = 2 }],
        }));

        Assert.Null(await store.GetJobAsync("new", withContent: true, CancellationToken.None));
        Assert.Equal(JobStates.Queued, (await GetAsync(store, "queued")).State);
        JobBatchOutcome empty = await ApplyAsync(store, new JobBatch());
        Assert.Empty(empty.Leased);
        Assert.Empty(empty.Results);
        Assert.Empty(empty.Requeued);
        Assert.Empty(empty.Expired);
    }

    [Fact]
    public async Task Apply_handles_a_batch_of_two_thousand_items_at_once()
    {
        const int count = 1000;
        IJobStore store = await NewStoreAsync();
        await store.SubmitAsync([.. Enumerable.Range(0, count).Select(i => Job($"old-{i:D4}"))], CancellationToken.None);
        await store.ApplyAsync(new JobBatch { Leases = [.. Enumerable.Range(0, count).Select(i => new JobLease($"old-{i:D4}", "agent-1", 1, T0))] }, CancellationToken.None);

        JobBatchOutcome outcome = await ApplyAsync(store, new JobBatch
        {
            Submit = [.. Enumerable.Range(0, count).Select(i => Job($"new-{i:D4}"))],
            Results = [.. Enumerable.Range(0, count).Select(i => new JobResultSubmission(Result($"old-{i:D4}", 1), true))],
        });

        Assert.All(outcome.Results, r => Assert.Equal(ResultRecording.Recorded, r));
        IReadOnlyDictionary<string, int> counts = await store.CountByStateAsync(CancellationToken.None);
        Assert.Equal((count, count), (counts[JobStates.Queued], counts[JobStates.Done]));
    }

    [Fact]
    public async Task Load_active_is_queued_and_running_with_content_by_priority_then_submission()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(
            store,
            Job("low", priority: 1, submittedAt: T0, content: [1]),
            Job("high-new", priority: 9, submittedAt: T0.AddSeconds(5), content: [2]),
            Job("high-old-running", priority: 9, submittedAt: T0.AddSeconds(1), content: [3]),
            Job("mid-b", priority: 5, submittedAt: T0.AddSeconds(2), content: [4]),
            Job("mid-a", priority: 5, submittedAt: T0.AddSeconds(2), content: [5]),
            Job("done", priority: 100),
            Job("dead", priority: 100, maxRetries: 0),
            Job("cancelled", priority: 100),
            Job("expired", priority: 100));
        await LeaseAsync(store, "high-old-running", 1, "agent-1");
        await LeaseAsync(store, "done", 1);
        await store.RecordResultAsync(Result("done", 1), true, CancellationToken.None);
        await LeaseAsync(store, "dead", 1);
        await store.RecordResultAsync(Result("dead", 1, outcome: "exit-nonzero"), false, CancellationToken.None);
        await store.CancelAsync("cancelled", CancellationToken.None);
        await store.ExpireQueuedAsync("expired", "target offline", CancellationToken.None);

        IReadOnlyList<JobRecord> active = await store.LoadActiveAsync(CancellationToken.None);

        Assert.Equal(["high-old-running", "high-new", "mid-a", "mid-b", "low"], active.Select(j => j.Id));
        Assert.All(active, j => Assert.Empty(j.Content));
        Assert.Equal(new byte[] { 3, 2, 5, 4, 1 }, (await store.LoadContentAsync([.. active.Select(j => j.Id)], CancellationToken.None)).Select(c => Assert.Single(c!)));
        Assert.Equal("agent-1", active[0].LeaseOwner);
        Assert.Equal(JobStates.Running, active[0].State);
        Assert.All(active.Skip(1), j => Assert.Equal(JobStates.Queued, j.State));
    }

    [Fact]
    public async Task Expire_queued_marks_only_a_queued_job_dead_with_its_reason()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("queued"), Job("running"));
        await LeaseAsync(store, "running", 1);

        Assert.True(await store.ExpireQueuedAsync("queued", "agent:x did not come online within 5m", CancellationToken.None));
        Assert.False(await store.ExpireQueuedAsync("queued", "again", CancellationToken.None));
        Assert.False(await store.ExpireQueuedAsync("running", "running", CancellationToken.None));
        Assert.False(await store.ExpireQueuedAsync("ghost", "unknown", CancellationToken.None));

        JobRecord dead = await GetAsync(store, "queued");
        Assert.Equal(JobStates.Dead, dead.State);
        Assert.Equal("agent:x did not come online within 5m", dead.DeadReason);
        Assert.NotNull(dead.FinishedAt);
        Assert.Equal(0, dead.Attempt);
        Assert.Null(dead.LastAgent);
        Assert.False(await LeaseAsync(store, "queued", 1));
        Assert.Equal(JobStates.Running, (await GetAsync(store, "running")).State);
        Assert.Equal(0, await store.CountQueuedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Count_by_state_names_every_state_with_zero_when_none()
    {
        IJobStore store = await NewStoreAsync();

        IReadOnlyDictionary<string, int> empty = await store.CountByStateAsync(CancellationToken.None);
        Assert.Equal(
            [JobStates.Cancelled, JobStates.Dead, JobStates.Done, JobStates.Queued, JobStates.Running],
            empty.Keys.Order(StringComparer.Ordinal));
        Assert.All(empty.Values, v => Assert.Equal(0, v));

        await SubmitAsync(store, [.. Enumerable.Range(0, 7).Select(i => Job($"j{i}", maxRetries: 0))]);
        await LeaseAsync(store, "j0", 1);
        await LeaseAsync(store, "j1", 1);
        await LeaseAsync(store, "j2", 1);
        await store.RecordResultAsync(Result("j1", 1), true, CancellationToken.None);
        await store.RequeueAsync("j2", 1, "agent-lost", CancellationToken.None);
        await store.CancelAsync("j3", CancellationToken.None);

        IReadOnlyDictionary<string, int> counts = await store.CountByStateAsync(CancellationToken.None);
        Assert.Equal(5, counts.Count);
        Assert.Equal(3, counts[JobStates.Queued]);
        Assert.Equal(1, counts[JobStates.Running]);
        Assert.Equal(1, counts[JobStates.Done]);
        Assert.Equal(1, counts[JobStates.Dead]);
        Assert.Equal(1, counts[JobStates.Cancelled]);
    }

    /// <summary>A done job finished at <paramref name="at"/> (its result's time).</summary>
    protected static async Task FinishAsync(IJobStore store, string id, DateTimeOffset at, bool success = true)
    {
        Assert.True(await LeaseAsync(store, id, 1));
        JobResultRecord result = Result(id, 1, outcome: success ? "ok" : "exit-nonzero", error: success ? "" : "boom") with { RecordedAt = at };
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(result, success, CancellationToken.None));
    }

    [Fact]
    public async Task Prune_deletes_only_final_jobs_finished_before_the_cutoff_and_they_read_as_unknown()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("done-old"), Job("done-new"), Job("dead-old", maxRetries: 0), Job("retried-old", maxRetries: 3), Job("cancelled"), Job("queued"), Job("running"));
        await FinishAsync(store, "done-old", T0.AddMinutes(1));
        await FinishAsync(store, "done-new", T0.AddHours(1));
        await FinishAsync(store, "dead-old", T0.AddMinutes(1), success: false);
        Assert.True(await LeaseAsync(store, "retried-old", 1, "agent-1"));
        Assert.Equal(1, await store.RequeueAsync("retried-old", 1, "agent-lost", CancellationToken.None));
        Assert.True(await LeaseAsync(store, "retried-old", 2, "agent-2"));
        Assert.Equal(ResultRecording.StaleAttempt, await store.RecordResultAsync(Result("retried-old", 1, "agent-1"), true, CancellationToken.None));
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(Result("retried-old", 2, "agent-2"), true, CancellationToken.None));
        Assert.True(await store.CancelAsync("cancelled", CancellationToken.None)); // finished now, by the store's clock
        Assert.True(await LeaseAsync(store, "running", 1));

        Assert.Equal(3, await store.PruneFinishedAsync(T0.AddMinutes(5), 100, CancellationToken.None));

        foreach (string gone in new[] { "done-old", "dead-old", "retried-old" })
        {
            Assert.Null(await store.GetJobAsync(gone, withContent: true, CancellationToken.None));
            Assert.Null(await store.GetJobAsync(gone, withContent: false, CancellationToken.None));
            Assert.Null(await store.GetResultAsync(gone, withOutFile: true, CancellationToken.None));
        }

        Assert.Equal(ResultRecording.UnknownJob, await store.RecordResultAsync(Result("done-old", 1), true, CancellationToken.None));
        Assert.Equal(ResultRecording.UnknownJob, await store.RecordResultAsync(Result("retried-old", 2, "agent-2"), true, CancellationToken.None));
        Assert.False(await store.CancelAsync("done-old", CancellationToken.None));
        Assert.Equal(
            ["cancelled", "done-new", "queued", "running"],
            (await store.ListJobsAsync(null, null, 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.NotNull(await store.GetResultAsync("done-new", withOutFile: true, CancellationToken.None));

        // A cutoff after everything: every final job goes, queued and running ones stay.
        Assert.Equal(2, await store.PruneFinishedAsync(DateTimeOffset.UtcNow.AddDays(1), 100, CancellationToken.None));
        Assert.Equal(0, await store.PruneFinishedAsync(DateTimeOffset.UtcNow.AddDays(1), 100, CancellationToken.None));
        Assert.Equal(["queued", "running"], (await store.ListJobsAsync(null, null, 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(JobStates.Running, (await GetAsync(store, "running")).State);
        Assert.Equal([0x65, 0x63, 0x68], (await GetAsync(store, "queued")).Content);
        Assert.Equal(["queued"], (await store.LoadActiveAsync(CancellationToken.None)).Where(j => j.State == JobStates.Queued).Select(j => j.Id));
    }

    [Fact]
    public async Task Prune_respects_the_limit_oldest_first()
    {
        IJobStore store = await NewStoreAsync();
        await store.SubmitAsync([.. Enumerable.Range(0, 25).Select(i => Job($"j{i:D2}"))], CancellationToken.None);

        // Finished in the reverse order of their ids: the prune goes by finish time, not by id.
        for (int i = 0; i < 25; i++)
        {
            await FinishAsync(store, $"j{i:D2}", T0.AddSeconds(100 - i));
        }

        Assert.Equal(10, await store.PruneFinishedAsync(T0.AddDays(1), 10, CancellationToken.None));
        Assert.Equal(
            [.. Enumerable.Range(0, 15).Select(i => $"j{i:D2}")],
            (await store.ListJobsAsync(null, null, 100, null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(10, await store.PruneFinishedAsync(T0.AddDays(1), 10, CancellationToken.None));
        Assert.Equal(5, await store.PruneFinishedAsync(T0.AddDays(1), 10, CancellationToken.None));
        Assert.Equal(0, await store.PruneFinishedAsync(T0.AddDays(1), 10, CancellationToken.None));
        Assert.Empty(await store.ListJobsAsync(null, null, 100, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.PruneFinishedAsync(T0, 0, CancellationToken.None));
    }

    [Fact]
    public async Task Prune_of_nothing_due_deletes_nothing_and_a_pruned_id_can_be_submitted_again()
    {
        IJobStore store = await NewStoreAsync();
        await SubmitAsync(store, Job("a"));
        await FinishAsync(store, "a", T0.AddMinutes(1));

        Assert.Equal(0, await store.PruneFinishedAsync(T0.AddMinutes(1), 100, CancellationToken.None)); // finished at, not before
        Assert.Equal(1, await store.PruneFinishedAsync(T0.AddMinutes(1).AddMilliseconds(1), 100, CancellationToken.None));

        await SubmitAsync(store, Job("a"));
        JobRecord again = await GetAsync(store, "a");
        Assert.Equal((JobStates.Queued, 0), (again.State, again.Attempt));
        Assert.Null(await store.GetResultAsync("a", withOutFile: true, CancellationToken.None));
        Assert.True(await LeaseAsync(store, "a", 1));
    }
}
