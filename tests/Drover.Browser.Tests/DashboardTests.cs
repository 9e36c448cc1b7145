using System.Net.Http.Json;
using System.Text;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Playwright;

namespace Drover.Browser.Tests;

/// <summary>Issue 11's dashboard in a real browser, against a real hub with 200 real agents (<see cref="DashboardFleet"/>):
/// the page shows them online, a new agent appears and a silent one turns late then lost without a reload, a job sent
/// through the API appears and completes, an agent's history shows its reports. Each page's screenshot is saved
/// beside the test output (and, with DROVER_UPDATE_DOCS=1, the overview is copied to docs/dashboard.png).</summary>
public sealed class DashboardTests(DashboardFleet fleet) : IClassFixture<DashboardFleet>
{
    [Fact]
    public async Task The_overview_shows_the_fleet_online_and_live_figures()
    {
        var page = await fleet.OpenAsync("#/");
        await Expect(page, "#online-count", (DashboardFleet.FleetSize + 1).ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        await page.WaitForSelectorAsync("#cpu-card");
        Assert.Contains("connected", await page.InnerTextAsync("#online-card"));
        Assert.Contains("headroom", await page.InnerTextAsync("#files-card"));
        Assert.Contains("Store write lag", await page.InnerTextAsync("#store-card"), StringComparison.OrdinalIgnoreCase);
        await DashboardFleet.ScreenshotAsync(page, "overview");
        if (Environment.GetEnvironmentVariable("DROVER_UPDATE_DOCS") == "1")
        {
            File.Copy(Path.Combine(DashboardFleet.ScreenshotDirectory, "overview.png"), Path.Combine(TestPaths.RepositoryRoot, "docs", "dashboard.png"), overwrite: true);
        }
    }

    [Fact]
    public async Task Arrival_health_shows_the_rate_beside_the_slots_prediction()
    {
        var page = await fleet.OpenAsync("#/arrivals");
        await page.WaitForSelectorAsync("#on-time");
        await Poll.UntilAsync(async () => double.Parse(await page.InnerTextAsync("#predicted-rate"), System.Globalization.CultureInfo.InvariantCulture), rate => rate >= 150, TimeSpan.FromSeconds(10), "the predicted rate of 201 agents at 1 s");
        Assert.Matches(@"^\d+(\.\d)? %$", await page.InnerTextAsync("#on-time"));
        Assert.Equal(1, await page.Locator("svg.chart .predicted").CountAsync());
        await DashboardFleet.ScreenshotAsync(page, "arrivals");
    }

    [Fact]
    public async Task A_new_agent_appears_in_the_list_without_a_reload()
    {
        var page = await fleet.OpenAsync("#/agents");
        await page.WaitForSelectorAsync("tr[data-agent='fleet-0000']");
        Assert.Equal(50, await page.Locator("#agent-rows tr").CountAsync());
        var before = int.Parse(await page.InnerTextAsync("#agents-total"), System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(before > DashboardFleet.FleetSize, $"the list counts {before} agents");
        await DashboardFleet.ScreenshotAsync(page, "agents");

        // "aaa-…" sorts before every fleet id: it must appear on this first page, which is not loaded again by hand.
        await using var newcomer = await RawProtocolClient.ConnectAsync(fleet.Hub.AgentEndPoint);
        await newcomer.HandshakeAsync(RawProtocolClient.MakeHello("aaa-newcomer"));
        await newcomer.SendAsync(RawProtocolClient.MakeStatus(1));
        await page.WaitForSelectorAsync("tr[data-agent='aaa-newcomer']");
        await Expect(page, "#agents-total", (before + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_silent_agent_turns_late_then_lost_on_its_page()
    {
        await using var silent = await RawProtocolClient.ConnectAsync(fleet.Hub.AgentEndPoint);
        await silent.HandshakeAsync(RawProtocolClient.MakeHello("silent-1"));

        // It reports every 300 ms until its page shows it online (however long a loaded machine takes to get there)…
        using var quiet = new CancellationTokenSource();
        var reporting = Task.Run(async () =>
        {
            for (ulong seq = 1; !quiet.IsCancellationRequested; seq++)
            {
                await silent.SendAsync(RawProtocolClient.MakeStatus(seq, AgentState.Busy, ("temperature", FieldValue.From(71.5))));
                await Task.Delay(300);
            }
        });
        var page = await fleet.OpenAsync("#/agents/silent-1");
        await page.WaitForSelectorAsync("[data-fact='state'] .s-online");
        Assert.Contains("temperature", await page.InnerTextAsync("#status-fields"));
        await quiet.CancelAsync();
        await reporting;

        // …then sends nothing more but keeps its connection: late after interval + grace, lost after three intervals.
        await page.WaitForSelectorAsync("[data-fact='state'] .s-late", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await DashboardFleet.ScreenshotAsync(page, "agent-late");
        await page.WaitForSelectorAsync("[data-fact='state'] .s-lost", new PageWaitForSelectorOptions { Timeout = 20_000 });
    }

    [Fact]
    public async Task A_job_sent_through_the_API_appears_and_completes()
    {
        var page = await fleet.OpenAsync("#/jobs");
        await page.WaitForSelectorAsync("#submit-form");
        using var api = fleet.Hub.CreateApiClient();
        using var body = new ByteArrayContent(Encoding.UTF8.GetBytes("hello from the browser test\nsecond line\n"));
        var answer = await api.PostAsync($"api/jobs?name=hello.txt&to=agent:{DashboardFleet.Worker}", body);
        Assert.Equal(System.Net.HttpStatusCode.Created, answer.StatusCode);
        var id = (await answer.Content.ReadFromJsonAsync(ApiJsonContext.Default.SubmitResponse))!.Jobs[0].Id;

        await page.WaitForSelectorAsync($"tr[data-job='{id}'] .s-done", new PageWaitForSelectorOptions { Timeout = 20_000 });
        await DashboardFleet.ScreenshotAsync(page, "jobs");

        await page.ClickAsync($"tr[data-job='{id}'] a");
        await page.WaitForSelectorAsync("#job-state .s-done");
        Assert.Contains("echo: hello from the browser test", await page.InnerTextAsync("#job-stdout"));
        Assert.Contains(DashboardFleet.Worker, await page.InnerTextAsync("#job-body"));
        await DashboardFleet.ScreenshotAsync(page, "job");
    }

    [Fact]
    public async Task Files_sent_from_the_page_run_and_a_waiting_job_is_cancelled_from_its_page()
    {
        var page = await fleet.OpenAsync("#/jobs");
        await page.WaitForSelectorAsync("#submit-form");
        await page.SetInputFilesAsync("#submit-files", new FilePayload { Name = "from-page.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("sent from the page\n") });
        await page.FillAsync("#submit-to", $"agent:{DashboardFleet.Worker}");
        await page.ClickAsync("#submit-form button[type=submit]");
        var link = page.Locator("#submit-result a");
        await link.WaitForAsync();
        var id = (await link.InnerTextAsync()).Trim();
        await page.WaitForSelectorAsync($"tr[data-job='{id}'] .s-done", new PageWaitForSelectorOptions { Timeout = 20_000 });

        // A job for an agent that never comes waits in the queue; its page cancels it.
        await page.SetInputFilesAsync("#submit-files", new FilePayload { Name = "waits.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("never runs\n") });
        await page.FillAsync("#submit-to", "agent:nobody-here");
        await page.ClickAsync("#submit-form button[type=submit]");
        await page.WaitForSelectorAsync("#submit-result a");
        await page.ClickAsync("#submit-result a");
        await page.WaitForSelectorAsync("#job-state .s-queued");
        await page.ClickAsync("#cancel-job");
        await page.WaitForSelectorAsync("#job-state .s-cancelled");
    }

    [Fact]
    public async Task An_agents_page_shows_its_reports_in_the_history()
    {
        var page = await fleet.OpenAsync("#/agents/fleet-0007");
        await page.WaitForSelectorAsync("#history-table");
        await Poll.UntilAsync(() => page.Locator("#history-table tr.sample").CountAsync(), n => n >= 2, TimeSpan.FromSeconds(15), "two reports in fleet-0007's history");
        Assert.Contains("temperature", await page.InnerTextAsync("#status-fields"));
        Assert.Contains("rack=r3", await page.InnerTextAsync("#agent-facts"));
        await DashboardFleet.ScreenshotAsync(page, "agent");
    }

    [Fact]
    public async Task Markup_an_agent_sends_is_shown_as_text_and_never_runs()
    {
        const string label = "<img src=x onerror=\"window.__pwned='label'\">";
        const string field = "<script>window.__pwned='field'</script><b>bold</b>";
        await using var agent = await RawProtocolClient.ConnectAsync(fleet.Hub.AgentEndPoint);
        await agent.HandshakeAsync(RawProtocolClient.MakeHello("markup-1", labels: new Dictionary<string, string> { ["note"] = label }));
        await agent.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, ("note", FieldValue.From(field))));

        var page = await fleet.OpenAsync("#/agents/markup-1");
        await page.WaitForSelectorAsync("#status-fields");
        Assert.Contains(field, await page.InnerTextAsync("#status-fields"));
        Assert.Contains(label, await page.InnerTextAsync("#agent-facts"));
        Assert.Equal(0, await page.Locator("#agent-facts img, #status-fields script, #status-fields b").CountAsync());
        await page.EvaluateAsync("() => { location.hash = '#/agents?q=markup'; }");
        await page.WaitForSelectorAsync("tr[data-agent='markup-1']");
        Assert.Null(await page.EvaluateAsync<string?>("() => window.__pwned ?? null"));
    }

    [Fact]
    public async Task The_page_without_a_token_asks_for_one_and_the_assets_are_locked_down()
    {
        var page = await fleet.Browser.NewPageAsync();
        var response = await page.GotoAsync(fleet.Hub.ApiUrl.ToString());
        Assert.NotNull(response);
        var headers = await response.AllHeadersAsync();
        Assert.Contains("script-src 'self'", headers["content-security-policy"]);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
        await page.WaitForSelectorAsync("#login");

        await page.FillAsync("#token", "drover_000000000000_wrong");
        await page.ClickAsync("#login button");
        await page.WaitForSelectorAsync("#login .error");

        await page.FillAsync("#token", HubFixture.AdminToken);
        await page.ClickAsync("#login button");
        await page.WaitForSelectorAsync("#online-count");
    }

    private async Task Expect(IPage page, string selector, string text)
    {
        try
        {
            await Poll.UntilAsync(() => page.InnerTextAsync(selector), t => t.Trim() == text, TimeSpan.FromSeconds(20), $"{selector} to read {text}");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} (page errors: {string.Join(" | ", fleet.PageErrors)})", ex);
        }
    }
}
