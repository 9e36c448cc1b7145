using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Drover.Cli.Jobs;
using Drover.Api;

namespace Drover.Cli;

/// <summary>The hub's HTTP API as the operator commands use it (docs/http-api.md).
/// Every failure comes out as one <see cref="HubApiException"/>: the hub could not be reached, did not
/// answer in time, or answered an error (the <c>detail</c> of its problem details in the message).</summary>
internal sealed partial class HubApiClient : IDisposable
{
    /// <summary>How long an ordinary request may take.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long an upload may take: up to 16 MiB per file, many files per request.</summary>
    private static readonly TimeSpan UploadTimeout = TimeSpan.FromMinutes(10);

    private readonly HttpClient _http;
    private readonly Func<string?> _certificateFailure = () => null;

    private HubApiClient(ApiTarget target)
    {
        var handler = new SocketsHttpHandler();
        if (target.BaseAddress.Scheme == Uri.UriSchemeHttps && target.CertificateCheck(out _certificateFailure) is { } check)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = check;
        }

        _http = new HttpClient(handler) { BaseAddress = target.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (target.Token is { } token)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>A client for <paramref name="target"/>.</summary>
    public static HubApiClient Create(ApiTarget target) => new(target);

    /// <summary>A client for the API that <paramref name="access"/>'s flags (and the environment) name; false with a usage
    /// error.</summary>
    public static bool TryCreate(ApiAccess access, ParseResult parse, out HubApiClient client, out string error)
    {
        client = null!;
        if (!access.TryRead(parse, out var target, out error))
        {
            return false;
        }

        client = new HubApiClient(target);
        return true;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Runs one operator command against the hub: a bad flag is a usage error (exit 2); a
    /// <see cref="HubApiException"/> is printed as "drover: message" and exits 3.</summary>
    public static async Task<int> RunAsync(ApiAccess access, ParseResult parse, Func<HubApiClient, Task<int>> action)
    {
        if (!TryCreate(access, parse, out var client, out var error))
        {
            return CliParsing.Fail(error);
        }

        using (client)
        {
            try
            {
                return await action(client);
            }
            catch (HubApiException ex)
            {
                await Console.Error.WriteLineAsync($"drover: {ex.Message}");
                return ExitCodes.Hub;
            }
        }
    }

    /// <summary><c>GET /api/agents</c>: one page of agents.</summary>
    public Task<AgentPage> ListAgentsAsync(IEnumerable<string> query, CancellationToken cancellationToken) =>
        GetJsonAsync("api/agents?" + string.Join('&', query), ApiJsonContext.Default.AgentPage, cancellationToken);

    /// <summary><c>POST /api/jobs</c>: one file as the raw body (with <c>?name=</c>), several as one
    /// multipart/form-data request. The files are read from disk while the request is sent.</summary>
    public async Task<SubmitResponse> SubmitAsync(IReadOnlyList<FileInfo> files, JobSubmitOptions options, Action<long, bool>? sent, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(files.Count);
        var query = new List<string>();
        HttpContent content;
        if (files.Count == 1)
        {
            query.Add("name=" + Uri.EscapeDataString(files[0].Name));
            content = new FileContent(files[0], sent);
        }
        else
        {
            var multipart = new MultipartFormDataContent();
            foreach (var file in files)
            {
                multipart.Add(new FileContent(file, sent), "file", file.Name);
            }

            content = multipart;
        }

        AddSubmitParameters(query, options);
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs?" + string.Join('&', query)) { Content = content };
        return await SendJsonAsync(request, ApiJsonContext.Default.SubmitResponse, UploadTimeout, cancellationToken);
    }

    /// <summary><c>POST /api/jobs</c> of one file held in memory (the demo's generated samples), as the raw body with <c>?name=</c>.</summary>
    public async Task<SubmittedJob> SubmitAsync(string name, ReadOnlyMemory<byte> content, JobSubmitOptions options, CancellationToken cancellationToken)
    {
        var query = new List<string> { "name=" + Uri.EscapeDataString(name) };
        AddSubmitParameters(query, options);
        using var body = new ReadOnlyMemoryContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs?" + string.Join('&', query)) { Content = body };
        var answer = await SendJsonAsync(request, ApiJsonContext.Default.SubmitResponse, RequestTimeout, cancellationToken);
        return answer.Jobs.Count == 1 ? answer.Jobs[0] : throw new HubApiException($"the hub answered {answer.Jobs.Count} jobs to a one-file request", 201);
    }

    /// <summary><c>GET /api/stats</c>: fleet and job counters.</summary>
    public Task<StatsView> GetStatsAsync(CancellationToken cancellationToken) =>
        GetJsonAsync("api/stats", ApiJsonContext.Default.StatsView, cancellationToken);

    /// <summary><c>GET /api/jobs/{id}</c>.</summary>
    public Task<JobView> GetJobAsync(string id, CancellationToken cancellationToken) =>
        GetJsonAsync(JobPath(id), ApiJsonContext.Default.JobView, cancellationToken);

    /// <summary><c>GET /api/jobs</c>: one page, at most <paramref name="limit"/> jobs from <paramref name="cursor"/> (the
    /// <c>next</c> of the previous page; null for the first).</summary>
    public Task<JobPage> ListJobsAsync(string? state, string? agent, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var query = new List<string> { "limit=" + limit.ToString(CultureInfo.InvariantCulture) };
        AddParameter(query, "state", state);
        AddParameter(query, "agent", agent);
        AddParameter(query, "cursor", cursor);
        return GetJsonAsync("api/jobs?" + string.Join('&', query), ApiJsonContext.Default.JobPage, cancellationToken);
    }

    /// <summary><c>GET /api/jobs/{id}/result</c>.</summary>
    public Task<ResultView> GetResultAsync(string id, CancellationToken cancellationToken) =>
        GetJsonAsync(JobPath(id) + "/result", ApiJsonContext.Default.ResultView, cancellationToken);

    /// <summary><c>GET /api/jobs/{id}/result/out</c> written to <paramref name="path"/> (created only once the
    /// hub has answered 200; removed again if the download fails). Returns the number of bytes written.</summary>
    public async Task<long> DownloadOutFileAsync(string id, string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, JobPath(id) + "/result/out");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(UploadTimeout);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token, cancellationToken);
        await ThrowIfErrorAsync(response, cancellationToken);
        try
        {
            await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                await body.CopyToAsync(file, timeout.Token);
                return file.Length;
            }
        }
        catch (Exception ex)
        {
            File.Delete(path);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new HubApiException($"downloading the out file of {id} to {path} failed: {ex.Message}", null);
        }
    }

    /// <summary><c>DELETE /api/jobs/{id}</c>: the job as it is after the cancel.</summary>
    public async Task<JobView> CancelAsync(string id, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, JobPath(id));
        return await SendJsonAsync(request, ApiJsonContext.Default.JobView, RequestTimeout, cancellationToken);
    }

    private static string JobPath(string id) => "api/jobs/" + Uri.EscapeDataString(id);

    private static void AddSubmitParameters(List<string> query, JobSubmitOptions options)
    {
        AddParameter(query, "to", options.Target?.ToString());
        AddParameter(query, "args", options.Args);
        AddParameter(query, "timeout", options.Timeout is { } timeout ? ((long)Math.Ceiling(timeout.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms" : null);
        AddParameter(query, "retries", options.Retries?.ToString(CultureInfo.InvariantCulture));
        AddParameter(query, "priority", options.Priority?.ToString(CultureInfo.InvariantCulture));
    }

    private static void AddParameter(List<string> query, string name, string? value)
    {
        if (value is not null)
        {
            query.Add(name + "=" + Uri.EscapeDataString(value));
        }
    }

    private async Task<T> GetJsonAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        return await SendJsonAsync(request, type, RequestTimeout, cancellationToken);
    }

    private async Task<T> SendJsonAsync<T>(HttpRequestMessage request, JsonTypeInfo<T> type, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token, cancellationToken);
        await ThrowIfErrorAsync(response, cancellationToken);
        try
        {
            return await response.Content.ReadFromJsonAsync(type, timeout.Token) ?? throw new JsonException("the answer is empty");
        }
        catch (JsonException ex)
        {
            throw new HubApiException($"the hub's answer to {request.Method} /{request.RequestUri} is not what this drover expects: {ex.Message}", (int)response.StatusCode);
        }
    }

    /// <summary>Sends; the hub being unreachable or slow becomes a <see cref="HubApiException"/>, the
    /// caller's own cancellation (Ctrl-C) stays an <see cref="OperationCanceledException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.SendAsync(request, completion, timeout);
        }
        catch (HttpRequestException ex) when (FindFileError(ex) is { } fileError)
        {
            throw new HubApiException(fileError.Message, null);
        }
        catch (HttpRequestException ex)
        {
            throw new HubApiException($"cannot reach the hub API at {BaseAddress}: {_certificateFailure() ?? ex.Message}", null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HubApiException($"the hub API at {BaseAddress} did not answer {request.Method} /{request.RequestUri} in time", null);
        }
        catch (FileReadException ex)
        {
            throw new HubApiException(ex.Message, null);
        }
    }

    private static FileReadException? FindFileError(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is FileReadException fileError)
            {
                return fileError;
            }
        }

        return null;
    }

    private static async Task ThrowIfErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.ServiceUnavailable && RetryAfter(response.Headers.RetryAfter) is { } retryAfter)
        {
            throw new HubApiException($"hub queue is full; retry after {Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds))} s", status);
        }

        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            text = ex.Message;
        }

        // RFC 7807 problem details: the detail is for the operator; the code (not printed) for programs.
        string? error = null;
        try
        {
            error = JsonSerializer.Deserialize(text, ApiJsonContext.Default.ApiProblem)?.Detail;
        }
        catch (JsonException)
        {
        }

        error ??= text.Length > 500 ? text[..500] + "…" : text;
        var hint = response.StatusCode == HttpStatusCode.Unauthorized
            ? " (give a token with --api-token-file, DROVER_API_TOKEN_FILE or DROVER_API_TOKEN: the hub's bootstrap token is in its DATA/admin.token)"
            : string.Empty;
        throw new HubApiException($"the hub answered {status} {response.ReasonPhrase}: {(error.Length > 0 ? error : "(no details)")}{hint}", status);
    }

    private static TimeSpan? RetryAfter(RetryConditionHeaderValue? header) =>
        header?.Delta ?? (header?.Date is { } date ? date - DateTimeOffset.UtcNow : null);

    /// <summary>One file as a request body, opened only when the body is written (so a multipart request of
    /// thousands of files holds one open file at a time) and streamed, never read into memory whole.</summary>
    private sealed class FileContent : HttpContent
    {
        private readonly FileInfo _file;
        private readonly long _length;
        private readonly Action<long, bool>? _sent;

        /// <summary>The file's bytes as a request body; <paramref name="sent"/> (for a progress bar) is told of every chunk
        /// written (its bytes, and true with the file's last one).</summary>
        public FileContent(FileInfo file, Action<long, bool>? sent)
        {
            _file = file;
            _sent = sent;
            _length = file.Length;
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            FileStream source;
            try
            {
                source = new FileStream(_file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new FileReadException($"cannot read {_file.FullName}: {ex.Message}", ex);
            }

            await using (source)
            {
                if (source.Length != _length)
                {
                    throw new FileReadException($"{_file.FullName} changed size while it was being sent ({_length} bytes before, {source.Length} now)", null);
                }

                if (_sent is null)
                {
                    await source.CopyToAsync(stream, cancellationToken);
                    return;
                }

                var buffer = new byte[81920];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    _sent(read, source.Position == _length);
                }

                if (_length == 0)
                {
                    _sent(0, true);
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return true;
        }
    }
}

/// <summary>The hub could not be reached, did not answer in time, or answered an error. The message is for the operator.</summary>
internal sealed class HubApiException(string message, int? statusCode) : Exception(message)
{
    /// <summary>The HTTP status the hub answered; null when there was no answer.</summary>
    public int? StatusCode { get; } = statusCode;
}

/// <summary>A file to send could not be read while the request was being written.</summary>
internal sealed class FileReadException(string message, Exception? inner) : IOException(message, inner);
