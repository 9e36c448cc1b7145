using Drover.Api;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/jobs/{id}/result</c> and <c>/api/jobs/{id}/result/out</c>: a job's latest result and its out
/// file, read from the store.</summary>
internal static class JobResultEndpoints
{
    public static void Map(RouteGroupBuilder jobsGroup, Func<HubApiParts> api)
    {
        jobsGroup.MapGet("/{id}/result", (string id, CancellationToken cancellationToken) => GetJobResultAsync(api().JobStore, id, cancellationToken))
            .Describe("GetJobResult", "A job's latest result", "jobs")
            .Produces<ResultView>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        jobsGroup.MapGet("/{id}/result/out", (string id, CancellationToken cancellationToken) => GetJobOutFileAsync(api().JobStore, id, cancellationToken))
            .Describe("GetJobOutFile", "The out file of a job's latest result", "jobs")
            .Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream")
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
    }

    private static async Task<IResult> GetJobResultAsync(IJobStore store, string id, CancellationToken cancellationToken)
    {
        var result = await store.GetResultAsync(id, withOutFile: true, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return ApiResults.NotFound($"no result for job '{id}' (unknown job, or no result yet)");
        }

        var view = new ResultView(
            result.JobId,
            result.Attempt,
            result.AgentId,
            result.Outcome,
            result.ExitCode,
            result.DurationMs,
            JobViews.DecodeTail(result.StdoutTail),
            JobViews.DecodeTail(result.StderrTail),
            result.OutFile.Length,
            string.IsNullOrEmpty(result.Error) ? null : result.Error,
            result.RecordedAt);
        return Results.Json(view, ApiJsonContext.Default.ResultView);
    }

    private static async Task<IResult> GetJobOutFileAsync(IJobStore store, string id, CancellationToken cancellationToken)
    {
        var result = await store.GetResultAsync(id, withOutFile: true, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return ApiResults.NotFound($"no result for job '{id}' (unknown job, or no result yet)");
        }

        return result.OutFile.Length == 0
            ? ApiResults.NotFound($"the result of job '{id}' has no out file")
            : Results.Bytes(result.OutFile, "application/octet-stream");
    }
}
