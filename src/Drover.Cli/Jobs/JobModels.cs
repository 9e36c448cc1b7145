using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Cli.Jobs;

// Client-side copies of the job shapes in docs/jobs-plan.md ("Hub HTTP API"). The hub defines its own in
// src/Drover.Hub/Api/JobModels.cs; once that lands, these can give way to the hub's public records
// (as `drover clients` already uses AgentView). Unknown fields are ignored, so the hub may add fields.

/// <summary>A job as <c>GET /api/jobs/{id}</c> shows it. The last five fields come from its result (null without one).</summary>
internal sealed record JobView(
    string Id,
    string State,
    string? Name,
    long Size,
    string? Sha256,
    string? Target,
    string? Args,
    int Priority,
    long TimeoutMs,
    int Retries,
    int Attempt,
    string? Agent,
    DateTimeOffset? SubmittedAt,
    DateTimeOffset? FinishedAt,
    string? DeadReason,
    string? Outcome,
    int? ExitCode,
    long? DurationMs,
    string? Stdout,
    string? Stderr)
{
    /// <summary>Done, dead and cancelled are final: the job changes no more.</summary>
    [JsonIgnore]
    public bool IsFinal => State is "done" or "dead" or "cancelled";
}

/// <summary>One page of <c>GET /api/jobs</c>, sorted by id; pass <see cref="Next"/> as <c>after</c>.</summary>
internal sealed record JobPage(IReadOnlyList<JobView> Items, string? Next);

/// <summary>The result of a job's latest recorded attempt: <c>GET /api/jobs/{id}/result</c>.</summary>
internal sealed record ResultView(
    string JobId,
    int Attempt,
    string? Agent,
    string? Outcome,
    int? ExitCode,
    long? DurationMs,
    string? Stdout,
    string? Stderr,
    long? OutFileSize,
    string? Error,
    DateTimeOffset? RecordedAt);

/// <summary>One accepted job in the answer to <c>POST /api/jobs</c>.</summary>
internal sealed record SubmittedJob(string Id, string? Name, long Size, string? Sha256);

/// <summary>The 201 answer to <c>POST /api/jobs</c>: the jobs in part order.</summary>
internal sealed record SubmitAnswer(IReadOnlyList<SubmittedJob> Jobs);

/// <summary>The job names and values shared by every job of one <c>POST /api/jobs</c>; null: the hub's default.</summary>
internal sealed record JobSubmitOptions
{
    public string? Target { get; init; }

    public string? Args { get; init; }

    public TimeSpan? Timeout { get; init; }

    public int? Retries { get; init; }

    public int? Priority { get; init; }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(JobView))]
[JsonSerializable(typeof(List<JobView>))]
[JsonSerializable(typeof(JobPage))]
[JsonSerializable(typeof(ResultView))]
[JsonSerializable(typeof(SubmittedJob))]
[JsonSerializable(typeof(SubmitAnswer))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
