namespace Drover.Api;

/// <summary>One job as the API shows it. The last five fields come from the job's latest result (null
/// when it has none); <see cref="Stdout"/> and <see cref="Stderr"/> are the tails the agent sent, decoded
/// as UTF-8 with invalid bytes replaced.</summary>
public sealed record JobView(
    string Id,
    string State,
    string Name,
    long Size,
    string Sha256,
    string Target,
    string Args,
    int Priority,
    long TimeoutMs,
    int Retries,
    int Attempt,
    string? Agent,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? FinishedAt,
    string? DeadReason,
    string? Outcome,
    int? ExitCode,
    long? DurationMs,
    string? Stdout,
    string? Stderr);

/// <summary>One page of jobs, sorted by id (submission order). Pass <see cref="Next"/> as <c>cursor</c>
/// for the next page; null when this is the last.</summary>
public sealed record JobPage(IReadOnlyList<JobView> Items, string? Next);

/// <summary>A job's latest result.</summary>
public sealed record ResultView(
    string JobId,
    int Attempt,
    string Agent,
    string Outcome,
    int? ExitCode,
    long DurationMs,
    string Stdout,
    string Stderr,
    long OutFileSize,
    string? Error,
    DateTimeOffset RecordedAt);

/// <summary>One job of a submission as the 201 answer lists it.</summary>
public sealed record SubmittedJob(string Id, string Name, long Size, string Sha256);

/// <summary>The 201 answer to POST /api/jobs: the jobs in the order of the request's files, and a warning when they
/// cannot start now and will wait (an <c>agent:ID</c> target that is not connected), else no <c>warning</c> field.</summary>
public sealed record SubmitResponse(
    IReadOnlyList<SubmittedJob> Jobs,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Warning = null);

/// <summary>The <c>jobs</c> section of /api/stats: counts by state from the store, totals since the hub started
/// (<see cref="ForeignMessages"/>: job_result, job_accepted and job_busy frames refused because their attempt is leased
/// to another agent id).</summary>
public sealed record JobStatsView(
    int Queued,
    int Running,
    int Done,
    int Dead,
    int Cancelled,
    long SubmittedTotal,
    long FinishedTotal,
    double FinishedPerSecond,
    long ForeignMessages);

/// <summary>One ended attempt of a job (GET /api/jobs/{id}/attempts): the agent, the outcome (a result's, or why the hub
/// ended it: <c>lease-expired</c>, <c>agent-lost</c>, <c>busy</c>, …), the exit code, the error text, and whether the agent
/// sent a result for it.</summary>
public sealed record AttemptView(int Attempt, string? Agent, string Outcome, int? ExitCode, string? Error, bool FromResult, DateTimeOffset RecordedAt);

/// <summary>A job's ended attempts, oldest first, and the attempt in flight now (0: none).</summary>
public sealed record AttemptList(IReadOnlyList<AttemptView> Items, int Current, string? CurrentAgent);
