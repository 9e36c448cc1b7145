using Drover.Api;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/jobs/{id}/attempts</c>: a job's ended attempts (agent, outcome, exit code, error), oldest first,
/// and the one in flight. Not paged: a job has at most <c>retries + 1</c> (101) attempts.</summary>
internal static class JobAttemptEndpoints
{
    public static void Map(RouteGroupBuilder jobsGroup, Func<HubApiParts> api) =>
        jobsGroup.MapGet("/{id}/attempts", (string id, CancellationToken cancellationToken) => ListAttemptsAsync(api().JobStore, id, cancellationToken))
            .Describe("ListJobAttempts", "A job's ended attempts, oldest first, and the one in flight", "jobs")
            .Produces<AttemptList>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);

    private static async Task<IResult> ListAttemptsAsync(IJobStore store, string id, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, withContent: false, cancellationToken).ConfigureAwait(false);
        if (job is null)
        {
            return ApiResults.NoJob(id);
        }

        var attempts = await store.ListAttemptsAsync(id, cancellationToken).ConfigureAwait(false);
        var items = attempts.Select(a => new AttemptView(a.Attempt, a.AgentId, a.Outcome, a.ExitCode, string.IsNullOrEmpty(a.Error) ? null : a.Error, a.FromResult, a.RecordedAt)).ToList();
        var inFlight = job.State == JobStates.Running ? job.Attempt : 0;
        return Results.Json(new AttemptList(items, inFlight, inFlight > 0 ? job.LeaseOwner : null), ApiJsonContext.Default.AttemptList);
    }
}
