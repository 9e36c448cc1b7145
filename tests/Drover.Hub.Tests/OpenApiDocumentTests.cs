using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The OpenAPI document at /openapi/v1.json, walked against a running hub: every path and method in it answers,
/// with valid parameters (an agent, a job and a token seeded so that ids exist), a status the document lists and, for a JSON
/// answer, the top-level properties of the documented schema; and one error call per operation answers problem details
/// with a status the document lists.</summary>
public sealed class OpenApiDocumentTests : IAsyncLifetime
{
    private const string AgentId = "walk-agent";
    private HubFixture _fixture = null!;
    private HttpClient _http = null!;
    private RawProtocolClient _agent = null!;

    public async Task InitializeAsync()
    {
        _fixture = await HubFixture.StartAsync();
        _http = _fixture.CreateApiClient();
        _agent = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        // With a key: an open hub binds it at first use, so the id has an approved credential to revoke.
        var hello = RawProtocolClient.MakeHello(AgentId, labels: new Dictionary<string, string> { ["role"] = "walk" }) with { AgentKey = "walk-agent-key-0123456789" };
        Assert.IsType<Welcome>(await _agent.HandshakeAsync(hello));
        await _agent.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, ("load", FieldValue.From(0.5))));
        await PollAsync(async () => (await _http.GetFromJsonAsync($"api/agents/{AgentId}/history", ApiJsonContext.Default.StatusHistoryPage))!.Items.Count > 0, "the agent's first report in its history");
        await PollAsync(async () => (await _http.GetFromJsonAsync($"api/agents/{AgentId}/events", ApiJsonContext.Default.AgentEventPage))!.Items.Count > 0, "the agent's session-opened event");
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        _http.Dispose();
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task The_document_is_open_and_lists_every_route_of_the_hub()
    {
        using var anonymous = _fixture.CreateApiClient(token: null);
        using var response = await anonymous.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var operations = Operations(document.RootElement).Select(o => $"{o.Method} {o.Path}").ToHashSet(StringComparer.Ordinal);

        var routes = _fixture.Hub.ApiEndpoints
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText != "/openapi/v1.json")
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["*"])
                .Select(method => $"{method} /{e.RoutePattern.RawText!.Trim('/')}"))
            .ToHashSet(StringComparer.Ordinal);
        Assert.True(routes.SetEquals(operations), $"routes not in the document: [{string.Join(", ", routes.Except(operations))}]; in the document but no route: [{string.Join(", ", operations.Except(routes))}]");
    }

    [Fact]
    public async Task Every_operation_answers_as_documented()
    {
        using var document = JsonDocument.Parse(await _http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        var root = document.RootElement;
        var jobId = await SubmitAsync();
        var doneId = await SeedDoneJobAsync();
        var token = JsonDocument.Parse(await (await _http.PostAsync(new Uri("/api/tokens?scope=read&name=walk", UriKind.Relative), null)).Content.ReadAsStringAsync())
            .RootElement.GetProperty("token").GetProperty("id").GetString()!;

        var walked = 0;
        foreach (var operation in Operations(root).OrderBy(o => o.Method == "DELETE"))
        {
            var path = operation.Path
                .Replace("/api/jobs/{id}", "/api/jobs/" + (operation.Method == "DELETE" ? jobId : doneId), StringComparison.Ordinal)
                .Replace("/api/tokens/{id}", "/api/tokens/" + token, StringComparison.Ordinal)
                .Replace("{id}", AgentId, StringComparison.Ordinal)
                .Replace("{file}", "app.js", StringComparison.Ordinal);
            var query = string.Join('&', operation.Parameters.Where(p => p.In == "query" && ValidValue(operation, p.Name) is not null)
                .Select(p => $"{p.Name}={Uri.EscapeDataString(ValidValue(operation, p.Name)!)}"));
            using var request = new HttpRequestMessage(new HttpMethod(operation.Method), path + (query.Length > 0 ? "?" + query : string.Empty));
            if (operation.HasBody)
            {
                request.Content = new ByteArrayContent("walk"u8.ToArray());
            }

            // Headers first: a stream (server-sent events) is checked by its status and media type, not read to its end.
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var streaming = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
            var body = streaming ? string.Empty : await response.Content.ReadAsStringAsync();
            Assert.True(operation.Responses.TryGetProperty(status, out var documented), $"{operation}: {status} is not documented ({body})");
            // Approve and reject take a pending credential; the walk's is approved (409, as documented).
            var conflict = path.EndsWith("/approve", StringComparison.Ordinal) || path.EndsWith("/reject", StringComparison.Ordinal);
            Assert.True(conflict ? response.StatusCode == HttpStatusCode.Conflict : (int)response.StatusCode < 400, $"{operation}: {status} {body}");
            if (response.Content.Headers.ContentType?.MediaType is "application/json" or ApiProblem.MediaType)
            {
                AssertHasSchemaProperties(root, documented, response.Content.Headers.ContentType.MediaType, body, operation.ToString());
            }

            walked++;
        }

        Assert.True(walked >= 20, $"only {walked} operations in the document");
    }

    [Fact]
    public async Task Every_operation_answers_an_error_as_documented_problem_details()
    {
        using var document = JsonDocument.Parse(await _http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        var root = document.RootElement;
        using var anonymous = _fixture.CreateApiClient(token: null);
        foreach (var operation in Operations(root))
        {
            // An unknown id where the path has one, no token where the operation needs one, else an unknown Host.
            var open = operation.Security is { ValueKind: JsonValueKind.Array } security && security.GetArrayLength() == 0;
            var path = operation.Path.Replace("{id}", "no-such-id", StringComparison.Ordinal);
            using var request = new HttpRequestMessage(new HttpMethod(operation.Method), path);
            if (open)
            {
                request.Headers.Host = "evil.example";
            }

            var client = open || operation.Path.Contains("{id}", StringComparison.Ordinal) ? _http : anonymous;
            using var response = await client.SendAsync(request);
            var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.True((int)response.StatusCode >= 400, $"{operation}: {status}");
            Assert.True(operation.Responses.TryGetProperty(status, out _), $"{operation}: {status} is not documented");
            if (operation.Method == "HEAD")
            {
                continue;
            }

            Assert.Equal(ApiProblem.MediaType, response.Content.Headers.ContentType?.MediaType);
            var problem = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ApiProblem))!;
            Assert.Contains(problem.Code, ProblemCodes.All);
            Assert.Equal((int)response.StatusCode, problem.Status);
        }
    }

    [Fact]
    public async Task The_frameworks_404_and_405_under_api_are_problem_details()
    {
        using var none = await _http.GetAsync(new Uri("/api/nothing-here", UriKind.Relative));
        await JobsApiTests.AssertErrorAsync(none, HttpStatusCode.NotFound, ProblemCodes.NoRoute);
        using var wrongMethod = await _http.PutAsync(new Uri("/api/stats", UriKind.Relative), null);
        await JobsApiTests.AssertErrorAsync(wrongMethod, HttpStatusCode.MethodNotAllowed, ProblemCodes.MethodNotAllowed);
    }

    private async Task<string> SubmitAsync()
    {
        using var submitted = await _http.PostAsync(new Uri("/api/jobs?name=walk.txt&to=agent:nobody-here", UriKind.Relative), new ByteArrayContent("walk"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        return JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0].GetProperty("id").GetString()!;
    }

    /// <summary>A job done with a result and an out file, put in the store as an agent's run would leave it.</summary>
    private async Task<string> SeedDoneJobAsync()
    {
        var at = DateTimeOffset.UtcNow;
        var job = new JobRecord
        {
            Id = new Hub.Jobs.JobIds().Next(at),
            FileName = "done.txt",
            FileSize = 4,
            Sha256 = System.Security.Cryptography.SHA256.HashData("done"u8),
            Content = "done"u8.ToArray(),
            Target = "agent:nobody-else",
            SubmittedAt = at,
        };
        var store = _fixture.JobStore;
        await store.SubmitAsync([job], CancellationToken.None);
        Assert.True(await store.LeaseAsync(job.Id, "agent-a", 1, at.AddMinutes(1), CancellationToken.None));
        var result = new JobResultRecord { JobId = job.Id, Attempt = 1, AgentId = "agent-a", Outcome = "completed", ExitCode = 0, DurationMs = 1, OutFile = "out"u8.ToArray(), RecordedAt = at };
        Assert.Equal(ResultRecording.Recorded, await store.RecordResultAsync(result, success: true, CancellationToken.None));
        return job.Id;
    }

    /// <summary>A valid value of each query parameter the walk sets (null: left out).</summary>
    private static string? ValidValue(Operation operation, string name) => name switch
    {
        "limit" => "5",
        "since" => "2000-01-01T00:00:00Z",
        "state" => operation.Path switch
        {
            "/api/agents" => "online",
            "/api/jobs" => "queued",
            _ => "pending",
        },
        "label" => operation.Path == "/api/agents" ? "role=walk" : null,
        "q" => "walk",
        "sort" => operation.Path == "/api/jobs" ? "-id" : "-lastSeen",
        "agent" => AgentId,
        "seconds" => "10",
        "scope" => "read",
        "name" => operation.Method == "POST" && operation.Path == "/api/jobs" ? "walk.txt" : "walker",
        "to" => "agent:nobody-here",
        "timeout" => "5m",
        "retries" => "1",
        "priority" => "0",
        "ttl" => "1h",
        _ => null,
    };

    /// <summary>The answer has every property of the documented schema of its media type (top level, $ref resolved).</summary>
    private static void AssertHasSchemaProperties(JsonElement root, JsonElement documented, string mediaType, string body, string what)
    {
        var media = documented.TryGetProperty("content", out var content) && content.TryGetProperty(mediaType, out var found) ? found : default;
        Assert.True(media.ValueKind == JsonValueKind.Object, $"{what}: {mediaType} is not documented");
        var schema = Resolve(root, media.GetProperty("schema"));
        using var answer = JsonDocument.Parse(body);
        if (schema.TryGetProperty("properties", out var properties))
        {
            Assert.Equal(JsonValueKind.Object, answer.RootElement.ValueKind);
            foreach (var property in properties.EnumerateObject())
            {
                Assert.True(answer.RootElement.TryGetProperty(property.Name, out _), $"{what}: the answer has no '{property.Name}' ({body})");
            }
        }
    }

    private static JsonElement Resolve(JsonElement root, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!.Split('/')[^1];
            schema = root.GetProperty("components").GetProperty("schemas").GetProperty(name);
        }

        return schema;
    }

    private static List<Operation> Operations(JsonElement root)
    {
        var operations = new List<Operation>();
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            foreach (var method in path.Value.EnumerateObject().Where(m => m.Name is "get" or "post" or "delete" or "head" or "put" or "patch"))
            {
                var parameters = method.Value.TryGetProperty("parameters", out var list)
                    ? list.EnumerateArray().Select(p => (Name: p.GetProperty("name").GetString()!, In: p.GetProperty("in").GetString()!)).ToList()
                    : [];
                operations.Add(new Operation(
                    method.Name.ToUpperInvariant(),
                    path.Name,
                    parameters,
                    method.Value.TryGetProperty("requestBody", out _),
                    method.Value.GetProperty("responses"),
                    method.Value.TryGetProperty("security", out var security) ? security : null));
            }
        }

        return operations;
    }

    private static async Task PollAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + because);
            await Task.Delay(50);
        }
    }

    private sealed record Operation(string Method, string Path, List<(string Name, string In)> Parameters, bool HasBody, JsonElement Responses, JsonElement? Security)
    {
        public override string ToString() => $"{Method} {Path}";
    }
}
