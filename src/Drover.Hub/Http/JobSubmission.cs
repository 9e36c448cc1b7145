using System.Globalization;
using Drover.Api;
using Drover.Hub.Fleet;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Drover.Hub.Http;

/// <summary><c>POST /api/jobs</c>: one file as the body, or files as multipart/form-data parts, each becoming a job
/// with the query's settings (<see cref="JobSubmitParameters"/>). Each file is read as it arrives into the request's
/// <see cref="UploadSpool"/> (small ones in memory, the others streamed to a spool file in <paramref name="uploads"/>),
/// within the limits; the jobs are handed to the dispatcher, which answers once they are committed (the store copies the
/// spooled files in chunks), and then the spool files are deleted, whatever the outcome.</summary>
internal sealed class JobSubmission(HubOptions options, IJobControl jobs, IFleetView fleet, Security.AuditLog audit, UploadDirectory uploads)
{
    /// <summary>Framing a multipart request may spend per file on top of the file bytes (boundary line and
    /// part headers), used to size the request body limit.</summary>
    private const long MultipartOverheadPerFile = 1024;

    private readonly HubOptions _options = options;
    private readonly IJobControl _jobs = jobs;
    private readonly IFleetView _fleet = fleet;
    private readonly JobIds _jobIds = new();

    /// <summary>The most file bytes one request may carry: what the queue, and one token's share of it, can hold.</summary>
    private long MaxRequestBytes => Math.Min(_options.MaxQueuedBytes, _options.MaxQueuedBytesPerToken);

    /// <summary>One file of a request: its cleaned name and where its bytes are.</summary>
    private readonly record struct UploadedFile(string Name, SpooledFile File);

    public async Task<IResult> SubmitAsync(HttpContext context)
    {
        var request = context.Request;
        var aborted = context.RequestAborted;
        if (!JobSubmitParameters.TryParse(request.Query, out var parameters, out var problem))
        {
            return ApiResults.BadRequest(problem);
        }

        var isMultipart = false;
        string? boundary = null;
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType) && mediaType.MediaType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            if (!mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                return ApiResults.BadBody($"content type {mediaType.MediaType} is not supported; send one file as the body or files as multipart/form-data");
            }

            boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
            if (string.IsNullOrEmpty(boundary) || boundary.Length > 70)
            {
                return ApiResults.BadBody("malformed multipart body: multipart/form-data needs a boundary parameter of 1 to 70 characters");
            }

            if (parameters.Name is not null)
            {
                return ApiResults.BadRequest("name applies to a single-file body; in a multipart request each part's filename names its job");
            }

            isMultipart = true;
        }

        var limit = _options.MaxFileSize;
        var bodyLimit = isMultipart
            ? MaxRequestBytes + (_options.MaxQueuedJobs * MultipartOverheadPerFile)
            : limit + 1L;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = bodyLimit;
        }

        // A single-file body is named by the query; Kestrel's own limit for it is one byte over the file limit.
        var name = JobSubmitParameters.CleanFileName(parameters.Name);
        List<UploadedFile> files;
        using var spool = new UploadSpool(uploads.Path, limit);
        try
        {
            if (!isMultipart)
            {
                if (request.ContentLength > limit)
                {
                    return ApiResults.TooLarge(FileTooLarge(name, null, limit));
                }

                if (await spool.ReadAsync(request.Body, aborted).ConfigureAwait(false) is not { } file)
                {
                    return ApiResults.TooLarge(FileTooLarge(name, null, limit));
                }

                if (file.Length == 0)
                {
                    return ApiResults.BadBody("empty request: send one file as the body, or files as multipart/form-data parts");
                }

                files = [new UploadedFile(name, file)];
            }
            else
            {
                var (parts, error) = await ReadMultipartAsync(request.Body, boundary!, spool, aborted).ConfigureAwait(false);
                if (error is not null)
                {
                    return error;
                }

                files = parts!;
            }
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ApiResults.TooLarge(isMultipart
                ? $"the request body is over the limit of {SizeText.Format(bodyLimit)} ({bodyLimit} bytes)"
                : FileTooLarge(name, null, limit));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
        {
            return ApiResults.BadBody($"bad request body: {ex.Message}");
        }
        catch (UploadSpoolException ex)
        {
            var consequence = isMultipart ? "none of the request's jobs was accepted" : "the job was not accepted";
            return ex.IsFull
                ? ApiResults.Problem(ProblemCodes.StoreFull, StatusCodes.Status507InsufficientStorage, $"the hub's disk is full: {ex.Message}; {consequence}")
                : ApiResults.Problem(ProblemCodes.StoreFailed, StatusCodes.Status500InternalServerError, $"{ex.Message}; {consequence}");
        }

        var now = _options.TimeProvider.GetUtcNow();
        var jobs = new List<JobRecord>(files.Count);
        var answer = new List<SubmittedJob>(files.Count);
        foreach (var (fileName, file) in files)
        {
            var sha256 = file.Sha256;
            var job = new JobRecord
            {
                Id = _jobIds.Next(now),
                State = JobStates.Queued,
                Priority = parameters.Priority,
                Target = parameters.Target.ToString(),
                FileName = fileName,
                FileSize = file.Length,
                Sha256 = sha256,
                Content = file.Content ?? [],
                ContentFile = file.Path,
                Args = parameters.Args,
                Timeout = parameters.Timeout,
                MaxRetries = parameters.Retries,
                Attempt = 0,
                SubmittedAt = now,
            };
            jobs.Add(job);
            answer.Add(new SubmittedJob(job.Id, job.FileName, job.FileSize, Convert.ToHexStringLower(sha256)));
        }

        try
        {
            // Not the request's token: once handed over, the submission is committed or refused as a whole
            // by the dispatcher; a client that went away meanwhile only misses the answer.
            await _jobs.SubmitAsync(jobs, ApiGate.CallerOf(context)?.TokenId ?? string.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (JobQueueFullException ex)
        {
            var seconds = (long)Math.Max(1, Math.Ceiling(ex.RetryAfter.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return ex.PerSubmitter
                ? ApiResults.Problem(ProblemCodes.QuotaExceeded, StatusCodes.Status429TooManyRequests, ex.Message)
                : ApiResults.Problem(ProblemCodes.QueueFull, StatusCodes.Status503ServiceUnavailable, ex.Message);
        }
        catch (StoreException ex)
        {
            return ApiResults.StoreFailed(ex, jobs.Count == 1 ? "the job was not accepted" : $"none of the {jobs.Count} jobs was accepted");
        }

        if (answer.Count == 1)
        {
            context.Response.Headers.Location = "/api/jobs/" + answer[0].Id;
        }

        await AuditAsync(context, parameters, answer).ConfigureAwait(false);

        return Results.Json(new SubmitResponse(answer, WaitWarning(parameters)), ApiJsonContext.Default.SubmitResponse, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>One audit entry per accepted request: the job ids (the first ten, then how many more), the target, the
    /// files and the arguments (what will run).</summary>
    private Task AuditAsync(HttpContext context, JobSubmitParameters parameters, List<SubmittedJob> answer)
    {
        var ids = string.Join(' ', answer.Take(10).Select(job => job.Id)) + (answer.Count > 10 ? $" (and {answer.Count - 10} more)" : string.Empty);
        var files = string.Join(", ", answer.Take(10).Select(job => job.Name)) + (answer.Count > 10 ? ", …" : string.Empty);
        var detail = $"to {parameters.Target}, {answer.Count} file(s): {files}; args '{parameters.Args}'";
        return audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "job.submit", ids, detail, CancellationToken.None);
    }

    /// <summary>Why jobs for one agent cannot start now, or null: that agent was never seen by this hub, or is not
    /// connected. They stay queued for it and end dead when their timeout passes (as the sweep says then).</summary>
    private string? WaitWarning(JobSubmitParameters parameters)
    {
        if (parameters.Target.AgentId is not { } agentId)
        {
            return null;
        }

        var waits = $"the jobs wait for it, and end dead if it does not connect within their timeout ({JobDispatcher.FormatDuration(parameters.Timeout)})";
        if (!_fleet.TryGetAgent(agentId, out var entry))
        {
            return $"agent '{agentId}' has never connected to this hub; {waits}";
        }

        return entry.Session is null
            ? $"agent '{agentId}' is not connected ({entry.Presence.ToString().ToLowerInvariant()}, last seen {new DateTimeOffset(entry.LastSeenTicks, TimeSpan.Zero):u}); {waits}"
            : null;
    }

    /// <summary>Reads every part of a multipart/form-data body into <paramref name="spool"/>, each within the file size
    /// limit. Returns the files in part order, or the error answer (400 malformed or not a file, 413 too large).</summary>
    private async Task<(List<UploadedFile>? Files, IResult? Error)> ReadMultipartAsync(Stream body, string boundary, UploadSpool spool, CancellationToken cancellationToken)
    {
        var limit = _options.MaxFileSize;
        var reader = new MultipartReader(boundary, body);
        var files = new List<UploadedFile>();
        long total = 0;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken).ConfigureAwait(false) is { } section)
            {
                var number = files.Count + 1;
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase)
                    || (StringSegment.IsNullOrEmpty(disposition.FileName) && StringSegment.IsNullOrEmpty(disposition.FileNameStar)))
                {
                    return (null, ApiResults.BadBody($"multipart part {number} is not a file: each part needs Content-Disposition: form-data; name=\"file\"; filename=\"NAME\""));
                }

                var rawName = HeaderUtilities.RemoveQuotes(StringSegment.IsNullOrEmpty(disposition.FileNameStar) ? disposition.FileName : disposition.FileNameStar).Value;
                var name = JobSubmitParameters.CleanFileName(rawName);
                if (number > _options.MaxQueuedJobs)
                {
                    return (null, ApiResults.TooLarge($"the request carries more than {_options.MaxQueuedJobs} files, more than the queue holds; send fewer per request"));
                }

                if (await spool.ReadAsync(section.Body, cancellationToken).ConfigureAwait(false) is not { } file)
                {
                    return (null, ApiResults.TooLarge(FileTooLarge(name, number, limit)));
                }

                total += file.Length;
                if (total > MaxRequestBytes)
                {
                    return (null, ApiResults.TooLarge($"the request carries more than {SizeText.Format(MaxRequestBytes)} of files, more than the queue holds for one token; send fewer per request"));
                }

                files.Add(new UploadedFile(name, file));
            }
        }
        catch (InvalidDataException ex)
        {
            // A part's headers are too long, too many or not headers at all.
            return (null, ApiResults.BadBody($"malformed multipart body: {ex.Message}"));
        }
        catch (IOException ex) when (ex is not Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            // The reader's own wording ("Unexpected end of Stream, the content may have already been read by
            // another component") misleads: the body ended before its closing boundary.
            return (null, ApiResults.BadBody($"malformed multipart body: it ends before the closing boundary --{boundary}--"));
        }

        return files.Count == 0
            ? (null, ApiResults.BadBody("empty request: the multipart body has no file parts"))
            : (files, null);
    }

    private static string FileTooLarge(string name, int? part, long limit) =>
        $"file '{name}'{(part is null ? string.Empty : $" (part {part})")} is over the limit of {SizeText.Format(limit)} ({limit} bytes); the hub's --max-file-size sets it";
}
