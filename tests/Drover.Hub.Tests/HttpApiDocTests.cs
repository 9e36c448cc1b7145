using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Drover.Api;
using Drover.TestUtilities;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Tests;

/// <summary>Keeps docs/http-api.md honest: its endpoint table lists exactly the hub's routes, and each
/// documented route answers on a running hub (not the framework's 404 for no route, nor 405).</summary>
public sealed partial class HttpApiDocTests : IAsyncLifetime
{
    private HubFixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await HubFixture.StartAsync();

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public void The_endpoint_table_lists_exactly_the_hubs_routes()
    {
        var documented = DocumentedRoutes();

        // A group's own route ends in '/' ("/api/jobs/"); routing matches it with or without.
        var routes = _fixture.Hub.ApiEndpoints
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"])
                .Select(method => $"{method} /{e.RoutePattern.RawText!.Trim('/')}"))
            .ToHashSet(StringComparer.Ordinal);

        Assert.NotEmpty(routes);
        Assert.True(routes.SetEquals(documented),
            $"not in docs/http-api.md: [{string.Join(", ", routes.Except(documented).Order())}]; "
            + $"documented but not a route: [{string.Join(", ", documented.Except(routes).Order())}]");
    }

    [Fact]
    public async Task Every_documented_route_answers()
    {
        using var http = _fixture.CreateApiClient();
        using var submit = await http.PostAsync("/api/jobs?name=doc.txt", new ByteArrayContent("doc"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Created, submit.StatusCode);
        using var answer = JsonDocument.Parse(await submit.Content.ReadAsStringAsync());
        var jobId = answer.RootElement.GetProperty("jobs")[0].GetProperty("id").GetString()!;

        // DELETE last: the other routes see the job as submitted.
        foreach (var route in DocumentedRoutes().OrderBy(r => r.StartsWith("DELETE", StringComparison.Ordinal)))
        {
            var (method, path) = (route[..route.IndexOf(' ', StringComparison.Ordinal)], route[(route.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
            using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{id}", jobId, StringComparison.Ordinal).Replace("{file}", "app.js", StringComparison.Ordinal));
            if (method == "POST")
            {
                request.Content = new ByteArrayContent("doc"u8.ToArray());
            }

            // The live stream (server-sent events) never ends: its headers are its answer.
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var body = response.Content.Headers.ContentType?.MediaType == "text/event-stream" ? string.Empty : await response.Content.ReadAsStringAsync();

            // A path that is no route is 404 no-route, a method a route does not take 405; the API's own 404s are not-found.
            Assert.True(response.StatusCode != HttpStatusCode.MethodNotAllowed, $"{route}: 405");
            Assert.True(response.StatusCode != HttpStatusCode.NotFound || body.Contains($"\"code\":\"{ProblemCodes.NotFound}\"", StringComparison.Ordinal), $"{route}: 404 that is not the API's own ({body})");
            Assert.True((int)response.StatusCode < 500, $"{route}: {(int)response.StatusCode} {body}");
        }
    }

    /// <summary>"METHOD /path" for every row of the doc's endpoint table (rows that start with a method in backticks).</summary>
    private static HashSet<string> DocumentedRoutes()
    {
        var doc = File.ReadAllText(TestPaths.RepositoryFile("docs", "http-api.md"));
        var routes = TableRow().Matches(doc).Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}").ToHashSet(StringComparer.Ordinal);
        Assert.True(routes.Count > 0, "docs/http-api.md has no endpoint table rows like | `GET` | `/api/...` |");
        return routes;
    }

    [GeneratedRegex(@"^\|\s*`(GET|POST|PUT|PATCH|DELETE|HEAD)`\s*\|\s*`(/[^`\s]*)`\s*\|", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}
