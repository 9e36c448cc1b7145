using System.Text.Json;
using System.Text.Json.Serialization;
using Drover.Hub.Api;

namespace Drover.Cli.Jobs;

// The job shapes are the hub's public records (src/Drover.Hub/Api/JobModels.cs), as `drover clients` uses
// AgentView; this context reads them. Unknown fields are ignored, so the hub may add fields.

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
[JsonSerializable(typeof(SubmitResponse))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
