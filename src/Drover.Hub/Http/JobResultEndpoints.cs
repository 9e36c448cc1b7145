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
        jobsGroup.MapGet("/{id}/result", (string id, CancellationToken cancellationToken) => GetJobResultAsync(api().JobStore, id, cancellationToken));
        jobsGroup.MapGet("/{id}/result/out", (string id, CancellationToken cancellationToken) => GetJobOutFileAsync(api().JobStore, id, cancellationToken));
    }

    private static async Task<IResult> GetJobResultAsync(IJobStore store, string id, CancellationToken cancellationToken)
    {
        var result = await store.GetResultAsync(id, withOutFile: true, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return ApiResults.Error($"no result for job '{id}' (unknown job, or no result yet)", StatusCodes.Status404NotFound);
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
            return ApiResults.Error($"no result for job '{id}' (unknown job, or no result yet)", StatusCodes.Status404NotFound);
        }

        return result.OutFile.Length == 0
            ? ApiResults.Error($"the result of job '{id}' has no out file", StatusCodes.Status404NotFound)
            : Results.Bytes(result.OutFile, "application/octet-stream");
    }
}
