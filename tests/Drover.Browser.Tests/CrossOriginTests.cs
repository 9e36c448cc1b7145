using System.Text.Json;
using Drover.TestUtilities;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;

namespace Drover.Browser.Tests;

/// <summary>Issue 10's "browser reach", in a real browser (Debian's Chromium driven by Playwright): a page on another origin
/// tries to run a command on every agent through the hub's API, the way the finding did (a text/plain POST, which needs no
/// preflight) and worse (a page that knows the admin token), and to read the API. None of it gets through.</summary>
public sealed class CrossOriginTests
{

    /// <summary>What the attacker's page does, given the API's URL and a token.</summary>
    private const string AttackPage = """
        <!doctype html><html><body><form id="f" method="post" enctype="text/plain"><input name="x" value="y"></form><script>
        async function attack(api, token) {
          const results = {};
          try {
            await fetch(api + 'api/jobs?name=evil.sh&to=all', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: 'rm -rf /' });
            results.simplePost = 'sent';
          } catch (e) { results.simplePost = 'blocked'; }
          try {
            const r = await fetch(api + 'api/jobs?name=evil2.sh&to=all', { method: 'POST', headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'text/plain' }, body: 'rm -rf /' });
            results.postWithToken = 'status ' + r.status;
          } catch (e) { results.postWithToken = 'blocked'; }
          try {
            const r = await fetch(api + 'api/stats', { headers: { 'Authorization': 'Bearer ' + token } });
            results.readWithToken = await r.text();
          } catch (e) { results.readWithToken = 'blocked'; }
          try {
            const r = await fetch(api + 'api/stats');
            results.read = await r.text();
          } catch (e) { results.read = 'blocked'; }
          return results;
        }
        </script></body></html>
        """;

    [Fact]
    public async Task A_page_on_another_origin_cannot_submit_jobs_or_read_the_API_even_knowing_the_token()
    {
        await using var hub = await HubFixture.StartAsync();
        var api = hub.ApiUrl.ToString();

        // The attacker's page, served from another origin (another port of the same address: same site, other origin).
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var attacker = builder.Build();
        attacker.MapGet("/", () => Results.Content(AttackPage, "text/html"));
        await attacker.StartAsync();
        var attackerUrl = attacker.Urls.First();
        Assert.NotEqual(new Uri(attackerUrl).Authority, hub.ApiUrl.Authority);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Chromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(attackerUrl);
        var results = await page.EvaluateAsync<JsonElement>("([api, token]) => attack(api, token)", new object[] { api, HubFixture.AdminToken });

        // The simple POST reaches the hub (the browser cannot know) and is refused there as cross-origin.
        Assert.Equal("sent", results.GetProperty("simplePost").GetString());

        // With the token the request needs a preflight, which the API never answers with CORS: the POST is never sent.
        Assert.Equal("blocked", results.GetProperty("postWithToken").GetString());
        Assert.Equal("blocked", results.GetProperty("readWithToken").GetString());
        Assert.Equal("blocked", results.GetProperty("read").GetString());

        // An HTML form posted at the API (a navigation, not a fetch): refused too.
        var formAnswer = page.WaitForResponseAsync(response => response.Url.Contains("form.sh", StringComparison.Ordinal));
        await page.EvaluateAsync($"() => {{ const f = document.getElementById('f'); f.action = '{api}api/jobs?name=form.sh&to=all'; f.submit(); }}");
        var answer = await formAnswer;
        Assert.Equal(403, answer.Status);
        Assert.Contains("cross-origin", await answer.TextAsync(), StringComparison.Ordinal);

        Assert.Empty(await hub.JobStore.ListJobsAsync(null, null, 10, null, CancellationToken.None));
        using var http = hub.CreateApiClient();
        using var stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/stats", UriKind.Relative)));
        Assert.Equal(2, stats.RootElement.GetProperty("access").GetProperty("crossOrigin").GetInt64());
        await attacker.StopAsync();
    }
}
