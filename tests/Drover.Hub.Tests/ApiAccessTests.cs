using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Drover.Api;
using Drover.Hub.Security;
using Drover.TestUtilities;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The HTTP API's gate (issue 10, operator access): tokens and scopes on every route, the Host and Origin checks,
/// the audit log, and the bootstrap token file. Real hub, real sockets, real SQLite.</summary>
public sealed class ApiAccessTests
{
    [Fact]
    public async Task Without_a_token_every_route_but_healthz_the_openapi_document_and_the_dashboard_page_answers_401()
    {
        await using var fixture = await HubFixture.StartAsync();
        using var anonymous = fixture.CreateApiClient(token: null);
        var routes = fixture.Hub.ApiEndpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(method => (method, path: "/" + e.RoutePattern.RawText!.Trim('/'))))
            .ToList();
        Assert.True(routes.Count >= 10, $"only {routes.Count} routes");
        var refused = 0;
        foreach (var (method, path) in routes)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{id}", "x", StringComparison.Ordinal).Replace("{file}", "app.js", StringComparison.Ordinal));
            if (method == "POST")
            {
                request.Content = new StringContent("x");
            }

            using var response = await anonymous.SendAsync(request);
            // Open: the health check, the API's description, and the dashboard's page and scripts (they hold no data).
            if (path is "/healthz" or "/openapi/v1.json" or "/" or "/dashboard/{file}")
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                continue;
            }

            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode}");
            refused++;
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            await JobsApiTests.AssertErrorAsync(response, HttpStatusCode.Unauthorized, Drover.Api.ProblemCodes.Unauthenticated, says: "needs a token");
        }

        using var wrong = fixture.CreateApiClient(ApiTokenText.Generate());
        using var guessed = await wrong.GetAsync(new Uri("/api/agents", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, guessed.StatusCode);
        Assert.Equal(refused + 1, await AccessCountAsync(fixture, "unauthenticated"));
    }

    [Fact]
    public async Task A_read_token_cannot_submit_and_a_submit_token_cannot_administer()
    {
        await using var fixture = await HubFixture.StartAsync();
        var read = await fixture.Hub.CreateApiTokenAsync(ApiScope.Read, "reader");
        var submit = await fixture.Hub.CreateApiTokenAsync(ApiScope.Submit, "submitter");
        using var reader = fixture.CreateApiClient(read);
        using var submitter = fixture.CreateApiClient(submit);
        using var admin = fixture.CreateApiClient();

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(new Uri("/api/agents", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(new Uri("/api/jobs", UriKind.Relative))).StatusCode);
        using var refused = await reader.PostAsync(new Uri("/api/jobs?name=a.txt", UriKind.Relative), new ByteArrayContent("x"u8.ToArray()));
        await JobsApiTests.AssertErrorAsync(refused, HttpStatusCode.Forbidden, Drover.Api.ProblemCodes.InsufficientScope, says: "has scope read; this needs submit");
        Assert.Empty(await fixture.JobStore.ListJobsAsync(null, null, 10, null, CancellationToken.None));

        using var submitted = await submitter.PostAsync(new Uri("/api/jobs?name=a.txt", UriKind.Relative), new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await submitter.PostAsync(new Uri("/api/tokens?scope=admin", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await submitter.GetAsync(new Uri("/api/tokens", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await submitter.GetAsync(new Uri("/api/audit", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync(new Uri("/api/audit", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(new Uri("/api/audit", UriKind.Relative))).StatusCode);
        Assert.Equal(5, await AccessCountAsync(fixture, "forbidden"));
    }

    [Fact]
    public async Task Tokens_are_made_listed_and_revoked_through_the_API_and_a_revoked_or_expired_one_is_refused()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await HubFixture.StartAsync(o => o with { TimeProvider = time });
        using var admin = fixture.CreateApiClient();

        time.Advance(TimeSpan.FromSeconds(1));
        var shortLived = await CreateAsync(admin, "scope=read&name=for%20a%20while&ttl=1h");
        time.Advance(TimeSpan.FromSeconds(1));
        var revoked = await CreateAsync(admin, "scope=submit&name=ci");
        Assert.StartsWith("drover_", shortLived.Secret, StringComparison.Ordinal);
        Assert.Equal(shortLived.Token.CreatedAt.AddHours(1), shortLived.Token.ExpiresAt);

        using (var client = fixture.CreateApiClient(revoked.Secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/stats", UriKind.Relative))).StatusCode);
            using var revoke = await admin.DeleteAsync(new Uri("/api/tokens/" + revoked.Token.Id, UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
            using var after = await client.GetAsync(new Uri("/api/stats", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
            Assert.Contains("is revoked", await after.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Conflict, (await admin.DeleteAsync(new Uri("/api/tokens/" + revoked.Token.Id, UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync(new Uri("/api/tokens/000000000000", UriKind.Relative))).StatusCode);
        }

        using (var client = fixture.CreateApiClient(shortLived.Secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/stats", UriKind.Relative))).StatusCode);
            time.Advance(TimeSpan.FromMinutes(61));
            using var expired = await client.GetAsync(new Uri("/api/stats", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
            Assert.Contains("expired", await expired.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var list = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri("/api/tokens", UriKind.Relative)), ApiJsonContext.Default.TokenList)!;
        Assert.Equal(["provisioned", "for a while", "ci"], list.Items.Select(t => t.Name));
        Assert.Equal([true, false, false], list.Items.Select(t => t.Active));
        Assert.DoesNotContain(shortLived.Secret, await admin.GetStringAsync(new Uri("/api/tokens", UriKind.Relative)), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync(new Uri("/api/tokens?scope=root", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync(new Uri("/api/tokens?scope=read&ttl=-1h", UriKind.Relative), null)).StatusCode);
    }

    [Fact]
    public async Task Only_the_hash_of_a_secret_is_stored()
    {
        await using var fixture = await HubFixture.StartAsync();
        using var admin = fixture.CreateApiClient();
        var created = await CreateAsync(admin, "scope=read");
        await fixture.StopAsync();
        var secret = created.Secret[(ApiTokenText.Prefix.Length + ApiTokenText.IdLength + 1)..];
        foreach (var file in Directory.GetFiles(fixture.DataDirectory, "drover.db*"))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(HubFixture.AdminToken[(ApiTokenText.Prefix.Length + ApiTokenText.IdLength + 1)..])));
        }

        await using var restarted = await HubFixture.StartAsync(dataDirectory: fixture.DataDirectory);
        using var client = restarted.CreateApiClient(created.Secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/stats", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task A_foreign_Host_is_refused_and_the_machine_names_and_IP_addresses_are_served()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { ApiHostNames = ["hub.example.org"] });
        using var admin = fixture.CreateApiClient();
        foreach (var (host, expected) in new[]
        {
            ("attacker.example", HttpStatusCode.BadRequest),
            ("localhost.attacker.example", HttpStatusCode.BadRequest),
            ("hub.example.org", HttpStatusCode.OK),
            ("HUB.example.org.", HttpStatusCode.OK),
            ("localhost", HttpStatusCode.OK),
            (Environment.MachineName, HttpStatusCode.OK),
            ("10.1.2.3", HttpStatusCode.OK),
            ("[::1]", HttpStatusCode.OK),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/stats");
            request.Headers.Host = $"{host}:{fixture.ApiUrl.Port}";
            using var response = await admin.SendAsync(request);
            Assert.True(expected == response.StatusCode, $"Host {host}: {(int)response.StatusCode}");
        }

        Assert.Equal(2, await AccessCountAsync(fixture, "badHost"));
    }

    [Fact]
    public async Task A_cross_origin_write_is_refused_even_with_a_token_and_a_same_origin_one_is_not()
    {
        await using var fixture = await HubFixture.StartAsync();
        using var admin = fixture.CreateApiClient();
        var origin = $"http://{fixture.ApiUrl.Authority}";

        // What a page on another origin can send without a preflight: a text/plain POST.
        foreach (var (header, value) in new[] { ("Origin", "http://attacker.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "same-site") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/jobs?name=evil.sh&to=all") { Content = new StringContent("rm -rf /", Encoding.UTF8, "text/plain") };
            request.Headers.Add(header, value);
            using var response = await admin.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{header}: {value}: {(int)response.StatusCode}");
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }

        Assert.Empty(await fixture.JobStore.ListJobsAsync(null, null, 10, null, CancellationToken.None));
        using var sameOrigin = new HttpRequestMessage(HttpMethod.Post, "/api/jobs?name=ok.txt") { Content = new StringContent("ok") };
        sameOrigin.Headers.Add("Origin", origin);
        sameOrigin.Headers.Add("Sec-Fetch-Site", "same-origin");
        Assert.Equal(HttpStatusCode.Created, (await admin.SendAsync(sameOrigin)).StatusCode);

        // A cross-origin read is answered (the browser keeps it from the page: no CORS header), but never with CORS.
        using var read = new HttpRequestMessage(HttpMethod.Get, "/api/jobs");
        read.Headers.Add("Origin", "http://attacker.example");
        using var readAnswer = await admin.SendAsync(read);
        Assert.False(readAnswer.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Equal(4, await AccessCountAsync(fixture, "crossOrigin"));
    }

    [Fact]
    public async Task Submits_cancels_and_token_changes_are_in_the_audit_log_with_who_and_from_where()
    {
        await using var fixture = await HubFixture.StartAsync();
        using var admin = fixture.CreateApiClient();
        var submitToken = await CreateAsync(admin, "scope=submit&name=ops");
        using var submitter = fixture.CreateApiClient(submitToken.Secret);
        using var submitted = await submitter.PostAsync(new Uri("/api/jobs?name=a.txt&args=--fast&to=least-loaded", UriKind.Relative), new ByteArrayContent("x"u8.ToArray()));
        var jobId = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0].GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await submitter.DeleteAsync(new Uri("/api/jobs/" + jobId, UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync(new Uri("/api/tokens/" + submitToken.Token.Id, UriKind.Relative))).StatusCode);

        var page = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri("/api/audit", UriKind.Relative)), ApiJsonContext.Default.AuditPage)!;
        Assert.Equal(["token.create", "job.submit", "job.cancel", "token.revoke"], page.Items.Select(e => e.Action));
        var adminId = HubFixture.AdminToken[ApiTokenText.Prefix.Length..(ApiTokenText.Prefix.Length + ApiTokenText.IdLength)];
        Assert.Equal([$"{adminId} (provisioned)", $"{submitToken.Token.Id} (ops)", $"{submitToken.Token.Id} (ops)", $"{adminId} (provisioned)"], page.Items.Select(e => e.Actor));
        Assert.All(page.Items, e => Assert.Equal("127.0.0.1", e.Source));
        Assert.Equal(jobId, page.Items[1].Target);
        Assert.Contains("to least-loaded", page.Items[1].Detail, StringComparison.Ordinal);
        Assert.Contains("a.txt", page.Items[1].Detail, StringComparison.Ordinal);
        Assert.Contains("args '--fast'", page.Items[1].Detail, StringComparison.Ordinal);
        Assert.Null(page.Next);

        var first = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri("/api/audit?limit=1", UriKind.Relative)), ApiJsonContext.Default.AuditPage)!;
        var second = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri($"/api/audit?cursor={first.Next}&limit=2", UriKind.Relative)), ApiJsonContext.Default.AuditPage)!;
        Assert.Equal(["job.submit", "job.cancel"], second.Items.Select(e => e.Action));
        Assert.NotNull(second.Next);
        var last = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri($"/api/audit?cursor={second.Next}", UriKind.Relative)), ApiJsonContext.Default.AuditPage)!;
        Assert.Equal(["token.revoke"], last.Items.Select(e => e.Action));
        Assert.Null(last.Next);
    }

    [Fact]
    public async Task Audit_entries_older_than_the_retention_are_pruned_when_the_next_action_is_recorded()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        // An hour's retention, so that the hub's fake clock moves by minutes, not days (its sweeps would replay them all).
        await using var fixture = await HubFixture.StartAsync(o => o with { TimeProvider = time, KeepAudit = TimeSpan.FromHours(1) });
        using var admin = fixture.CreateApiClient();
        await CreateAsync(admin, "scope=read&name=old");
        time.Advance(TimeSpan.FromMinutes(40));
        await CreateAsync(admin, "scope=read&name=newer"); // pruned at most once an hour: not yet
        time.Advance(TimeSpan.FromMinutes(25)); // the first entry is 65 minutes old now, the second 25
        await CreateAsync(admin, "scope=read&name=newest");

        var page = JsonSerializer.Deserialize(await admin.GetStringAsync(new Uri("/api/audit", UriKind.Relative)), ApiJsonContext.Default.AuditPage)!;
        Assert.Equal(["scope read, name 'newer'", "scope read, name 'newest'"], page.Items.Select(e => e.Detail));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_bootstrap_token_file_is_made_once_kept_across_restarts_and_replaced_when_deleted()
    {
        var directory = HubFixture.NewDataDirectory();
        try
        {
            var file = Path.Combine(directory, "admin.token");
            string first;
            await using (var hub = await HubFixture.StartAsync(o => o with { AdminTokenFile = file, AdminToken = null }, directory))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                first = (await File.ReadAllTextAsync(file)).Trim();
                using var client = hub.CreateApiClient(first);
                Assert.Equal(HttpStatusCode.Created, (await client.PostAsync(new Uri("/api/tokens?scope=read", UriKind.Relative), null)).StatusCode);
            }

            await using (var hub = await HubFixture.StartAsync(o => o with { AdminTokenFile = file, AdminToken = null }, directory))
            {
                Assert.Equal(first, (await File.ReadAllTextAsync(file)).Trim());
                using var client = hub.CreateApiClient(first);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/tokens", UriKind.Relative))).StatusCode);
            }

            File.Delete(file);
            await using (var hub = await HubFixture.StartAsync(o => o with { AdminTokenFile = file, AdminToken = null }, directory))
            {
                var second = (await File.ReadAllTextAsync(file)).Trim();
                Assert.NotEqual(first, second);
                using var old = hub.CreateApiClient(first);
                Assert.Equal(HttpStatusCode.Unauthorized, (await old.GetAsync(new Uri("/api/stats", UriKind.Relative))).StatusCode);
                using var fresh = hub.CreateApiClient(second);
                Assert.Equal(HttpStatusCode.OK, (await fresh.GetAsync(new Uri("/api/stats", UriKind.Relative))).StatusCode);
            }
        }
        finally
        {
            TestPaths.DeleteDirectoryQuietly(directory);
        }
    }

    [Fact]
    public async Task One_token_cannot_fill_the_queue_alone_and_gets_429_while_another_token_goes_on()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { MaxFileSize = 1024, MaxQueuedBytesPerToken = 3 * 1024 });
        using var first = fixture.CreateApiClient(await fixture.Hub.CreateApiTokenAsync(ApiScope.Submit, "first"));
        using var second = fixture.CreateApiClient(await fixture.Hub.CreateApiTokenAsync(ApiScope.Submit, "second"));
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            using var accepted = await first.PostAsync(new Uri($"/api/jobs?name=f{i}.bin", UriKind.Relative), new ByteArrayContent(new byte[1024]));
            Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
            ids.Add(JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0].GetProperty("id").GetString()!);
        }

        // No agent runs them, so they stay queued: the fourth is over the first token's share.
        using var refused = await first.PostAsync(new Uri("/api/jobs?name=f3.bin", UriKind.Relative), new ByteArrayContent(new byte[1024]));
        Assert.NotNull(refused.Headers.RetryAfter);
        await JobsApiTests.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, Drover.Api.ProblemCodes.QuotaExceeded, says: "the limit per token is 3072 bytes");

        // A multipart request bigger than one token's share is refused as a whole, before the queue is asked.
        using var multipart = new MultipartFormDataContent();
        for (var i = 0; i < 4; i++)
        {
            multipart.Add(new ByteArrayContent(new byte[1024]), "file", $"m{i}.bin");
        }

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await second.PostAsync(new Uri("/api/jobs", UriKind.Relative), multipart)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await second.PostAsync(new Uri("/api/jobs?name=s.bin", UriKind.Relative), new ByteArrayContent(new byte[1024]))).StatusCode);

        // A cancelled job gives its bytes back to its token.
        Assert.Equal(HttpStatusCode.OK, (await first.DeleteAsync(new Uri("/api/jobs/" + ids[0], UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await first.PostAsync(new Uri("/api/jobs?name=f4.bin", UriKind.Relative), new ByteArrayContent(new byte[1024]))).StatusCode);
    }

    [Fact]
    public void The_API_listens_beyond_loopback_only_with_TLS()
    {
        var options = new HubOptions { HttpEndPoint = new IPEndPoint(IPAddress.Any, 0) };
        Assert.Contains(options.GetValidationErrors(), e => e.ErrorMessage!.Contains("only with TLS", StringComparison.Ordinal));
        Assert.Empty(new HubOptions().GetValidationErrors());
        Assert.Contains(new HubOptions { AdminToken = "hunter2" }.GetValidationErrors(), e => e.MemberNames.Contains(nameof(HubOptions.AdminToken)));
    }

    private static async Task<TokenCreated> CreateAsync(HttpClient admin, string query)
    {
        using var response = await admin.PostAsync(new Uri("/api/tokens?" + query, UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), ApiJsonContext.Default.TokenCreated)!;
    }

    private static async Task<long> AccessCountAsync(HubFixture fixture, string name)
    {
        using var admin = fixture.CreateApiClient();
        using var stats = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/api/stats", UriKind.Relative)));
        return stats.RootElement.GetProperty("access").GetProperty(name).GetInt64();
    }
}
