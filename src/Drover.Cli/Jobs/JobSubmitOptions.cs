using Drover.Protocol;

namespace Drover.Cli.Jobs;

// The job shapes are the API contracts (src/Drover.Api/JobModels.cs), read with Drover.Api's
// ApiJsonContext. Unknown fields are ignored, so the hub may add fields.

/// <summary>The job names and values shared by every job of one <c>POST /api/jobs</c>; null: the hub's default.</summary>
internal sealed record JobSubmitOptions
{
    /// <summary>Parsed once (by <see cref="JobTarget.TryParse"/>) where the text comes in; sent as its canonical text.</summary>
    public JobTarget? Target { get; init; }

    public string? Args { get; init; }

    public TimeSpan? Timeout { get; init; }

    public int? Retries { get; init; }

    public int? Priority { get; init; }
}
