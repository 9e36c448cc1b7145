using Drover.Api;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/jobs</c> (docs/http-api.md): submit (<see cref="JobSubmission"/>), list, read, cancel, and the
/// result (<see cref="JobResultEndpoints"/>). Writes go through <see cref="IJobControl"/> (the dispatcher, which
/// answers once they are committed); reads go straight to the <see cref="IJobStore"/>.</summary>
internal static class JobEndpoints
{
    private static readonly string[] JobStateNames = [JobStates.Queued, JobStates.Running, JobStates.Done, JobStates.Dead, JobStates.Cancelled];

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api)
    {
        // A store that fails a read or a cancel answers 500 with its message (507 when it is full), as a failed
        // submission does.
        var group = app.MapGroup("/api/jobs").WithTags("jobs").AddEndpointFilter(static async (context, next) =>
        {
            try
            {
                return await next(context).ConfigureAwait(false);
            }
            catch (StoreException ex)
            {
                return ApiResults.StoreFailed(ex, "nothing was changed");
            }
        });

        // The handlers that take the HttpContext are cast to Delegate, so that their IResult is written.
        group.MapPost(string.Empty, (Delegate)(Func<HttpContext, Task<IResult>>)(context => api().Submission.SubmitAsync(context)))
            .Describe("SubmitJobs", "Submit one job per file (needs submit scope)", "jobs")
            .Query("name", "The file name of a single-file body (multipart parts carry their own).")
            .Query("to", "Where the jobs run: random (default), least-loaded, agent:ID, label:KEY=VALUE.")
            .Query("args", "Arguments for the handler (at most 8 KiB of UTF-8).")
            .Query("timeout", "How long a run may take, like 30s or 5m (default 5m, at most 24h).")
            .Query("retries", "Retries after a failed run, 0 to 100 (default 2).", "integer")
            .Query("priority", "Higher runs first (default 0).", "integer")
            .JobFilesBody()
            .Produces<SubmitResponse>(StatusCodes.Status201Created)
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status429TooManyRequests, StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable, StatusCodes.Status507InsufficientStorage);
        group.MapGet(string.Empty, (Delegate)(Func<HttpContext, Task<IResult>>)(context => ListJobsAsync(api().JobStore, context)))
            .Describe("ListJobs", "A page of jobs in submission order, or the newest first", "jobs")
            .Query("state", $"Only jobs in this state: {string.Join(", ", JobStateNames)}.")
            .Query("sort", "id (submission order, the default) or -id (the newest first).")
            .Query("agent", "Only jobs that run or last ran on this agent id.")
            .Query("since", "Only jobs submitted at or after this time (ISO 8601).", "date-time")
            .Paged()
            .Produces<JobPage>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        group.MapGet("/{id}", (string id, CancellationToken cancellationToken) => GetJobAsync(api().JobStore, id, cancellationToken))
            .Describe("GetJob", "One job with its latest result's figures", "jobs")
            .Produces<JobView>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        JobResultEndpoints.Map(group, api);
        JobAttemptEndpoints.Map(group, api);
        group.MapDelete("/{id}", async (HttpContext context, string id) =>
        {
            var hub = api();
            var (answer, cancelled) = await CancelJobAsync(hub.JobStore, hub.Jobs, id, context.RequestAborted).ConfigureAwait(false);
            if (cancelled)
            {
                await hub.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "job.cancel", id, string.Empty, CancellationToken.None).ConfigureAwait(false);
            }

            return answer;
        })
            .Describe("CancelJob", "Cancel a queued or running job (needs submit scope)", "jobs")
            .Produces<JobView>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
    }

    private static async Task<IResult> ListJobsAsync(IJobStore store, HttpContext context)
    {
        var query = context.Request.Query;
        string? state = query["state"];
        if (string.IsNullOrEmpty(state))
        {
            state = null;
        }
        else if (!JobStateNames.Contains(state, StringComparer.Ordinal))
        {
            return ApiResults.BadRequest($"unknown state '{state}'; use one of {string.Join(", ", JobStateNames)}");
        }

        string? agent = query["agent"];
        if (string.IsNullOrEmpty(agent))
        {
            agent = null;
        }
        else if (!AgentIds.IsValid(agent, out var reason))
        {
            return ApiResults.BadRequest($"agent '{agent}': {reason}");
        }

        // The newest first (the dashboard's latest jobs) or in submission order; a cursor belongs to one of the two.
        var sort = query["sort"].ToString();
        if (sort is not ("" or "id" or "-id"))
        {
            return ApiResults.BadRequest($"unknown sort '{Protocol.LogText.Escape(sort, 40)}'; use id (submission order) or -id (newest first)");
        }

        var newestFirst = sort == "-id";
        var list = newestFirst ? "jobs-newest" : "jobs";
        if (!Paging.TryReadSince(query, out var since, out var error) || !Paging.TryRead(query, list, out var paging, out error))
        {
            return error!;
        }

        var pageSize = paging.Limit;
        var cancellationToken = context.RequestAborted;
        var page = await store.ListJobsAsync(state, agent, since, pageSize + 1, paging.After, newestFirst, cancellationToken).ConfigureAwait(false);
        var items = new List<JobView>(Math.Min(page.Count, pageSize));
        foreach (var job in page.Take(pageSize))
        {
            items.Add(await JobViews.ToJobViewAsync(store, job, cancellationToken).ConfigureAwait(false));
        }

        var next = page.Count > pageSize ? Paging.Encode(list, items[^1].Id) : null;
        return Results.Json(new JobPage(items, next), ApiJsonContext.Default.JobPage);
    }

    private static async Task<IResult> GetJobAsync(IJobStore store, string id, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, withContent: false, cancellationToken).ConfigureAwait(false);
        return job is null
            ? ApiResults.NoJob(id)
            : Results.Json(await JobViews.ToJobViewAsync(store, job, cancellationToken).ConfigureAwait(false), ApiJsonContext.Default.JobView);
    }

    private static async Task<(IResult Answer, bool Cancelled)> CancelJobAsync(IJobStore store, IJobControl jobs, string id, CancellationToken cancellationToken)
    {
        var (outcome, job) = await jobs.CancelAsync(id, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            CancelResult.Cancelled when job is not null => (Results.Json(await JobViews.ToJobViewAsync(store, job, cancellationToken).ConfigureAwait(false), ApiJsonContext.Default.JobView), true),
            CancelResult.AlreadyFinal => (ApiResults.Conflict($"job '{id}' is already {job?.State ?? "finished"}"), false),
            _ => (ApiResults.NoJob(id), false),
        };
    }
}
