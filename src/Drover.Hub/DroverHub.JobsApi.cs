using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Drover.Api;
using Drover.Hub.Internal;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Drover.Hub;

/// <summary>The job endpoints of the HTTP API (docs/http-api.md): submit, list, read,
/// read the result and its out file, cancel. Writes go through <see cref="Jobs"/> (the dispatcher, which
/// answers once they are committed); reads go straight to <see cref="JobStore"/>.</summary>
public sealed partial class DroverHub
{
    /// <summary>Most retries a job may ask for.</summary>
    internal const int MaxRetries = 100;

    /// <summary>Longest job timeout.</summary>
    internal static readonly TimeSpan MaxJobTimeout = TimeSpan.FromHours(24);

    /// <summary>Longest <c>args</c>, in UTF-8 bytes (the job frame carries it as a u16-length string, and it
    /// becomes an environment variable and command-line arguments on the agent).</summary>
    internal const int MaxArgsBytes = 8 * 1024;

    /// <summary>Longest file name kept, in characters.</summary>
    internal const int MaxFileNameLength = 255;

    /// <summary>Framing a multipart request may spend per file on top of the file bytes (boundary line and
    /// part headers), used to size the request body limit.</summary>
    private const long MultipartOverheadPerFile = 1024;

    private static readonly TimeSpan DefaultJobTimeout = TimeSpan.FromMinutes(5);
    private const int DefaultRetries = 2;
    private const int InitialUploadBuffer = 64 * 1024;

    private static readonly string[] JobStateNames = [JobStates.Queued, JobStates.Running, JobStates.Done, JobStates.Dead, JobStates.Cancelled];

    private readonly JobIds _jobIds = new();

    private void MapJobApi(WebApplication app)
    {
        // A store that fails a read or a cancel answers 500 with its message (507 when it is full), as a failed
        // submission does.
        var jobs = app.MapGroup("/api/jobs").AddEndpointFilter(static async (context, next) =>
        {
            try
            {
                return await next(context).ConfigureAwait(false);
            }
            catch (StoreException ex)
            {
                return StoreFailed(ex, "nothing was changed");
            }
        });

        // The handlers that take the HttpContext are cast to Delegate, so that their IResult is written.
        jobs.MapPost(string.Empty, (Delegate)SubmitJobsAsync);
        jobs.MapGet(string.Empty, (Delegate)ListJobsAsync);
        jobs.MapGet("/{id}", GetJobAsync);
        jobs.MapGet("/{id}/result", GetJobResultAsync);
        jobs.MapGet("/{id}/result/out", GetJobOutFileAsync);
        jobs.MapDelete("/{id}", CancelJobAsync);
    }

    /// <summary>The settings every job of one POST shares, from its query string.</summary>
    private sealed record SubmitParameters(string? Name, string Target, string Args, TimeSpan Timeout, int Retries, int Priority);

    /// <summary>One file of a request: its cleaned name and its bytes.</summary>
    private readonly record struct UploadedFile(string Name, byte[] Content);

    private async Task<IResult> SubmitJobsAsync(HttpContext context)
    {
        var request = context.Request;
        var aborted = context.RequestAborted;
        if (!TryParseSubmitParameters(request.Query, out var parameters, out var problem))
        {
            return BadRequest(problem);
        }

        var isMultipart = false;
        string? boundary = null;
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType) && mediaType.MediaType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            if (!mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                return BadRequest($"content type {mediaType.MediaType} is not supported; send one file as the body or files as multipart/form-data");
            }

            boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
            if (string.IsNullOrEmpty(boundary) || boundary.Length > 70)
            {
                return BadRequest("malformed multipart body: multipart/form-data needs a boundary parameter of 1 to 70 characters");
            }

            if (parameters.Name is not null)
            {
                return BadRequest("name applies to a single-file body; in a multipart request each part's filename names its job");
            }

            isMultipart = true;
        }

        var limit = Options.MaxFileSize;
        var bodyLimit = isMultipart
            ? Options.MaxQueuedBytes + (Options.MaxQueuedJobs * MultipartOverheadPerFile)
            : limit + 1L;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = bodyLimit;
        }

        // A single-file body is named by the query; Kestrel's own limit for it is one byte over the file limit.
        var name = CleanFileName(parameters.Name);
        List<UploadedFile> files;
        using (var buffer = new UploadBuffer(limit))
        {
            try
            {
                if (!isMultipart)
                {
                    if (request.ContentLength > limit)
                    {
                        return TooLarge(FileTooLarge(name, null, limit));
                    }

                    var count = await buffer.ReadAsync(request.Body, aborted).ConfigureAwait(false);
                    if (count < 0)
                    {
                        return TooLarge(FileTooLarge(name, null, limit));
                    }

                    if (count == 0)
                    {
                        return BadRequest("empty request: send one file as the body, or files as multipart/form-data parts");
                    }

                    files = [new UploadedFile(name, buffer.ToArray(count))];
                }
                else
                {
                    var (parts, error) = await ReadMultipartAsync(request.Body, boundary!, buffer, aborted).ConfigureAwait(false);
                    if (error is not null)
                    {
                        return error;
                    }

                    files = parts!;
                }
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return TooLarge(isMultipart
                    ? $"the request body is over the limit of {SizeText.Format(bodyLimit)} ({bodyLimit} bytes)"
                    : FileTooLarge(name, null, limit));
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
            {
                return BadRequest($"bad request body: {ex.Message}");
            }
        }

        var now = Time.GetUtcNow();
        var jobs = new List<JobRecord>(files.Count);
        var answer = new List<SubmittedJob>(files.Count);
        foreach (var file in files)
        {
            var sha256 = SHA256.HashData(file.Content);
            var job = new JobRecord
            {
                Id = _jobIds.Next(now),
                State = JobStates.Queued,
                Priority = parameters.Priority,
                Target = parameters.Target,
                FileName = file.Name,
                FileSize = file.Content.Length,
                Sha256 = sha256,
                Content = file.Content,
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
            await Jobs.SubmitAsync(jobs, CancellationToken.None).ConfigureAwait(false);
        }
        catch (JobQueueFullException ex)
        {
            var seconds = (long)Math.Max(1, Math.Ceiling(ex.RetryAfter.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return Error(ex.Message, StatusCodes.Status503ServiceUnavailable);
        }
        catch (StoreException ex)
        {
            return StoreFailed(ex, jobs.Count == 1 ? "the job was not accepted" : $"none of the {jobs.Count} jobs was accepted");
        }

        if (answer.Count == 1)
        {
            context.Response.Headers.Location = "/api/jobs/" + answer[0].Id;
        }

        return Results.Json(new SubmitResponse(answer, WaitWarning(parameters)), ApiJsonContext.Default.SubmitResponse, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>Why jobs for one agent cannot start now, or null: that agent was never seen by this hub, or is not
    /// connected. They stay queued for it and end dead when their timeout passes (as the sweep says then).</summary>
    private string? WaitWarning(SubmitParameters parameters)
    {
        if (JobTarget.Parse(parameters.Target).AgentId is not { } agentId)
        {
            return null;
        }

        var waits = $"the jobs wait for it, and end dead if it does not connect within their timeout ({JobDispatcher.FormatDuration(parameters.Timeout)})";
        if (!Registry.TryGet(agentId, out var entry))
        {
            return $"agent '{agentId}' has never connected to this hub; {waits}";
        }

        return entry.Session is null
            ? $"agent '{agentId}' is not connected ({entry.Presence.ToString().ToLowerInvariant()}, last seen {new DateTimeOffset(entry.LastSeenTicks, TimeSpan.Zero):u}); {waits}"
            : null;
    }

    /// <summary>Reads every part of a multipart/form-data body, each within the file size limit. Returns the
    /// files in part order, or the error answer (400 malformed or not a file, 413 too large).</summary>
    private async Task<(List<UploadedFile>? Files, IResult? Error)> ReadMultipartAsync(Stream body, string boundary, UploadBuffer buffer, CancellationToken cancellationToken)
    {
        var limit = Options.MaxFileSize;
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
                    return (null, BadRequest($"multipart part {number} is not a file: each part needs Content-Disposition: form-data; name=\"file\"; filename=\"NAME\""));
                }

                var rawName = HeaderUtilities.RemoveQuotes(StringSegment.IsNullOrEmpty(disposition.FileNameStar) ? disposition.FileName : disposition.FileNameStar).Value;
                var name = CleanFileName(rawName);
                if (number > Options.MaxQueuedJobs)
                {
                    return (null, TooLarge($"the request carries more than {Options.MaxQueuedJobs} files, more than the queue holds; send fewer per request"));
                }

                var count = await buffer.ReadAsync(section.Body, cancellationToken).ConfigureAwait(false);
                if (count < 0)
                {
                    return (null, TooLarge(FileTooLarge(name, number, limit)));
                }

                total += count;
                if (total > Options.MaxQueuedBytes)
                {
                    return (null, TooLarge($"the request carries more than {SizeText.Format(Options.MaxQueuedBytes)} of files, more than the queue holds; send fewer per request"));
                }

                files.Add(new UploadedFile(name, buffer.ToArray(count)));
            }
        }
        catch (InvalidDataException ex)
        {
            // A part's headers are too long, too many or not headers at all.
            return (null, BadRequest($"malformed multipart body: {ex.Message}"));
        }
        catch (IOException ex) when (ex is not Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            // The reader's own wording ("Unexpected end of Stream, the content may have already been read by
            // another component") misleads: the body ended before its closing boundary.
            return (null, BadRequest($"malformed multipart body: it ends before the closing boundary --{boundary}--"));
        }

        return files.Count == 0
            ? (null, BadRequest("empty request: the multipart body has no file parts"))
            : (files, null);
    }

    private static string FileTooLarge(string name, int? part, long limit) =>
        $"file '{name}'{(part is null ? string.Empty : $" (part {part})")} is over the limit of {SizeText.Format(limit)} ({limit} bytes); the hub's --max-file-size sets it";

    /// <summary>Parses the query of a POST /api/jobs; each parameter at most once.</summary>
    /// <summary>The query parameters of POST /api/jobs; any other is refused.</summary>
    private static readonly string[] SubmitParameterNames = ["name", "to", "args", "timeout", "retries", "priority"];

    private static bool TryParseSubmitParameters(IQueryCollection query, out SubmitParameters parameters, out string problem)
    {
        parameters = null!;
        foreach (var (key, values) in query)
        {
            if (!SubmitParameterNames.Contains(key))
            {
                // A misspelt parameter silently taking its default (timeoutt=5s → 5m) is worse than a refusal.
                problem = $"unknown query parameter '{key}'; the parameters are {string.Join(", ", SubmitParameterNames)}";
                return false;
            }

            if (values.Count > 1)
            {
                problem = $"query parameter '{key}' is given more than once";
                return false;
            }
        }

        string? Get(string key) => query.TryGetValue(key, out var values) ? values.ToString() : null;

        var target = Get("to") ?? "random";
        if (!TryValidateTarget(target, out problem))
        {
            return false;
        }

        var timeout = DefaultJobTimeout;
        if (Get("timeout") is { } timeoutText)
        {
            if (!DurationText.TryParse(timeoutText, out timeout))
            {
                problem = $"timeout '{timeoutText}' is not a duration; use {DurationText.Examples}";
                return false;
            }

            if (timeout < TimeSpan.FromMilliseconds(1) || timeout > MaxJobTimeout)
            {
                problem = $"timeout must be more than 0 and at most 24h, got '{timeoutText}'";
                return false;
            }
        }

        var retries = DefaultRetries;
        if (Get("retries") is { } retriesText
            && (!int.TryParse(retriesText, NumberStyles.None, CultureInfo.InvariantCulture, out retries) || retries > MaxRetries))
        {
            problem = $"retries must be a whole number from 0 to {MaxRetries}, got '{retriesText}'";
            return false;
        }

        var priority = 0;
        if (Get("priority") is { } priorityText && !int.TryParse(priorityText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out priority))
        {
            problem = $"priority must be a whole number, got '{priorityText}'";
            return false;
        }

        var args = Get("args") ?? string.Empty;
        if (args.Contains('\0', StringComparison.Ordinal))
        {
            problem = "args cannot contain a NUL character";
            return false;
        }

        var argsBytes = Encoding.UTF8.GetByteCount(args);
        if (argsBytes > MaxArgsBytes)
        {
            problem = $"args is {argsBytes} bytes long; the limit is {MaxArgsBytes}";
            return false;
        }

        var name = Get("name");
        if (name is { Length: 0 })
        {
            name = null;
        }

        parameters = new SubmitParameters(name, target, args, timeout, retries, priority);
        problem = string.Empty;
        return true;
    }

    /// <summary>The <c>to</c> parameter: see <see cref="JobTarget.TryParse"/>.</summary>
    internal static bool TryValidateTarget(string target, out string problem)
    {
        if (JobTarget.TryParse(target, out _, out var error))
        {
            problem = string.Empty;
            return true;
        }

        problem = "to " + error;
        return false;
    }

    /// <summary>A client's file name, made safe to keep and show: control characters (NUL included)
    /// removed, only the last path segment ('/' or '\' separated) kept, at most
    /// <see cref="MaxFileNameLength"/> characters (never splitting a surrogate pair); "file" when nothing
    /// (or only "." or "..") is left. It stays metadata: no agent uses it as a path.</summary>
    internal static string CleanFileName(string? raw)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return "file";
        }

        var builder = new StringBuilder(Math.Min(raw.Length, MaxFileNameLength));
        foreach (var c in raw)
        {
            if (c is '/' or '\\')
            {
                builder.Clear();
            }
            else if (!char.IsControl(c))
            {
                builder.Append(c);
            }
        }

        if (builder.Length > MaxFileNameLength)
        {
            var cut = char.IsHighSurrogate(builder[MaxFileNameLength - 1]) ? MaxFileNameLength - 1 : MaxFileNameLength;
            builder.Length = cut;
        }

        var name = builder.ToString();
        return name is "" or "." or ".." ? "file" : name;
    }

    private async Task<IResult> ListJobsAsync(HttpContext context)
    {
        var query = context.Request.Query;
        string? state = query["state"];
        if (string.IsNullOrEmpty(state))
        {
            state = null;
        }
        else if (!JobStateNames.Contains(state, StringComparer.Ordinal))
        {
            return BadRequest($"unknown state '{state}'; use one of {string.Join(", ", JobStateNames)}");
        }

        string? agent = query["agent"];
        if (string.IsNullOrEmpty(agent))
        {
            agent = null;
        }
        else if (!AgentIds.IsValid(agent, out var reason))
        {
            return BadRequest($"agent '{agent}': {reason}");
        }

        if (!TryParseQueryInt(query["limit"], DefaultPageSize, 1, MaxPageSize, out var pageSize))
        {
            return BadRequest($"limit must be between 1 and {MaxPageSize}");
        }

        string? after = query["after"];
        if (string.IsNullOrEmpty(after))
        {
            after = null;
        }

        var cancellationToken = context.RequestAborted;
        var page = await JobStore.ListJobsAsync(state, agent, pageSize + 1, after, cancellationToken).ConfigureAwait(false);
        var items = new List<JobView>(Math.Min(page.Count, pageSize));
        foreach (var job in page.Take(pageSize))
        {
            items.Add(await ToJobViewAsync(job, cancellationToken).ConfigureAwait(false));
        }

        var next = page.Count > pageSize ? items[^1].Id : null;
        return Results.Json(new JobPage(items, next), ApiJsonContext.Default.JobPage);
    }

    private async Task<IResult> GetJobAsync(string id, CancellationToken cancellationToken)
    {
        var job = await JobStore.GetJobAsync(id, withContent: false, cancellationToken).ConfigureAwait(false);
        return job is null
            ? NoJob(id)
            : Results.Json(await ToJobViewAsync(job, cancellationToken).ConfigureAwait(false), ApiJsonContext.Default.JobView);
    }

    private async Task<IResult> GetJobResultAsync(string id, CancellationToken cancellationToken)
    {
        var result = await JobStore.GetResultAsync(id, withOutFile: true, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return Error($"no result for job '{id}' (unknown job, or no result yet)", StatusCodes.Status404NotFound);
        }

        var view = new ResultView(
            result.JobId,
            result.Attempt,
            result.AgentId,
            result.Outcome,
            result.ExitCode,
            result.DurationMs,
            DecodeTail(result.StdoutTail),
            DecodeTail(result.StderrTail),
            result.OutFile.Length,
            string.IsNullOrEmpty(result.Error) ? null : result.Error,
            result.RecordedAt);
        return Results.Json(view, ApiJsonContext.Default.ResultView);
    }

    private async Task<IResult> GetJobOutFileAsync(string id, CancellationToken cancellationToken)
    {
        var result = await JobStore.GetResultAsync(id, withOutFile: true, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return Error($"no result for job '{id}' (unknown job, or no result yet)", StatusCodes.Status404NotFound);
        }

        return result.OutFile.Length == 0
            ? Error($"the result of job '{id}' has no out file", StatusCodes.Status404NotFound)
            : Results.Bytes(result.OutFile, "application/octet-stream");
    }

    private async Task<IResult> CancelJobAsync(string id, CancellationToken cancellationToken)
    {
        var (outcome, job) = await Jobs.CancelAsync(id, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            CancelResult.Cancelled when job is not null => Results.Json(await ToJobViewAsync(job, cancellationToken).ConfigureAwait(false), ApiJsonContext.Default.JobView),
            CancelResult.AlreadyFinal => Error($"job '{id}' is already {job?.State ?? "finished"}", StatusCodes.Status409Conflict),
            _ => NoJob(id),
        };
    }

    /// <summary>The <c>jobs</c> section of /api/stats.</summary>
    private async Task<JobStatsView> ReadJobStatsAsync(CancellationToken cancellationToken)
    {
        var counts = await JobStore.CountByStateAsync(cancellationToken).ConfigureAwait(false);
        return new JobStatsView(
            counts.GetValueOrDefault(JobStates.Queued),
            counts.GetValueOrDefault(JobStates.Running),
            counts.GetValueOrDefault(JobStates.Done),
            counts.GetValueOrDefault(JobStates.Dead),
            counts.GetValueOrDefault(JobStates.Cancelled),
            Jobs.SubmittedTotal,
            Jobs.FinishedTotal,
            Jobs.FinishedPerSecond);
    }

    /// <summary>How many jobs an agent runs now; only agents with job slots are asked about.</summary>
    private int JobsInFlightOn(AgentEntry entry) => Volatile.Read(ref entry.JobSlots) > 0 ? Jobs.InFlightOn(entry.Id) : 0;

    private async Task<JobView> ToJobViewAsync(JobRecord job, CancellationToken cancellationToken)
    {
        // Only a job that was dispatched can have a result.
        var result = job.Attempt > 0 ? await JobStore.GetResultAsync(job.Id, withOutFile: false, cancellationToken).ConfigureAwait(false) : null;
        return new JobView(
            job.Id,
            job.State,
            job.FileName,
            job.FileSize,
            Convert.ToHexStringLower(job.Sha256),
            job.Target,
            job.Args,
            job.Priority,
            (long)job.Timeout.TotalMilliseconds,
            job.MaxRetries,
            job.Attempt,
            job.LeaseOwner ?? job.LastAgent,
            job.SubmittedAt,
            job.FinishedAt,
            job.DeadReason,
            result?.Outcome,
            result?.ExitCode,
            result?.DurationMs,
            result is null ? null : DecodeTail(result.StdoutTail),
            result is null ? null : DecodeTail(result.StderrTail));
    }

    /// <summary>UTF-8 with invalid bytes (a tail may start mid-character) replaced by U+FFFD.</summary>
    private static string DecodeTail(byte[] tail) => Encoding.UTF8.GetString(tail);

    /// <summary>A store failure as an answer: 507 Insufficient Storage when the store is full (the disk, or its size
    /// cap: the operator frees space and the same request then succeeds), else 500 with the store's message.
    /// <paramref name="consequence"/> says what became of the request (nothing of it was stored).</summary>
    private static IResult StoreFailed(StoreException ex, string consequence) => ex.IsFull
        ? Error($"the hub's disk is full: {ex.Message}; {consequence}", StatusCodes.Status507InsufficientStorage)
        : Error(ex.Message, StatusCodes.Status500InternalServerError);

    private static IResult NoJob(string id) => Error($"no job '{id}'", StatusCodes.Status404NotFound);

    private static IResult BadRequest(string message) => Error(message, StatusCodes.Status400BadRequest);

    private static IResult TooLarge(string message) => Error(message, StatusCodes.Status413PayloadTooLarge);

    private static IResult Error(string message, int status) => Results.Json(new ApiError(message), ApiJsonContext.Default.ApiError, statusCode: status);

    /// <summary>The scratch buffer of one request: each file is read into it, within the limit, then copied
    /// out at its exact size. Ownership: the buffer is rented from <see cref="ArrayPool{T}.Shared"/> by this
    /// object, replaced (the old one returned) when it grows, and returned by <see cref="Dispose"/>; nothing
    /// else holds it (<see cref="ToArray"/> copies). It never grows beyond the limit + 1 byte.</summary>
    private sealed class UploadBuffer(int limit) : IDisposable
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, InitialUploadBuffer));

        /// <summary>Reads <paramref name="source"/> to its end. Returns the byte count, or -1 as soon as it
        /// is over the limit (having read at most limit + 1 bytes).</summary>
        public async Task<int> ReadAsync(Stream source, CancellationToken cancellationToken)
        {
            var count = 0;
            while (true)
            {
                if (count == _buffer.Length)
                {
                    Grow(count);
                }

                var room = Math.Min(_buffer.Length, limit + 1) - count;
                var read = await source.ReadAsync(_buffer.AsMemory(count, room), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return count;
                }

                count += read;
                if (count > limit)
                {
                    return -1;
                }
            }
        }

        public byte[] ToArray(int count) => _buffer.AsSpan(0, count).ToArray();

        public void Dispose()
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
            }
        }

        private void Grow(int count)
        {
            var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)_buffer.Length * 2, limit + 1L));
            _buffer.AsSpan(0, count).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
    }
}
