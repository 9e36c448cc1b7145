using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Api;
using Drover.TestUtilities;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Drover.Browser.Tests;

/// <summary>The dashboard with a large fleet: <c>drover serve</c> and <c>drover bench --hub</c> as child processes (the
/// agents in their own processes, 10,000 each at most, under the open-files limit), reporting every 60 s as users run
/// them, and Chromium on the dashboard. It measures the page's load times, the live update rate, the frame rate while
/// updates arrive, and the hub's CPU with and without a viewer, and writes them to the test output and to
/// <c>dashboard-scale.json</c> beside it. 2,000 agents by default (every <c>dotnet test</c>); docs/benchmarks.md's figures
/// come from <c>DROVER_DASHBOARD_AGENTS=20000 dotnet test tests/Drover.Browser.Tests --filter DashboardScaleTests</c>.</summary>
public sealed class DashboardScaleTests(ITestOutputHelper output)
{
    private const string ServeListening = @"listening for agents on 127\.0\.0\.1:(\d+); HTTP API on (https?://127\.0\.0\.1:\d+/)";
    private const int AgentsPerBench = 10_000;

    [Fact]
    public async Task The_dashboard_stays_responsive_with_a_large_fleet()
    {
        var agents = int.Parse(Environment.GetEnvironmentVariable("DROVER_DASHBOARD_AGENTS") ?? "2000", CultureInfo.InvariantCulture);
        var data = HubFixture.NewDataDirectory();
        await using var serve = DroverProcess.Start(
            new Dictionary<string, string> { ["DROVER_ADMIN_TOKEN"] = HubFixture.AdminToken },
            "serve", "--insecure", "--open-agents", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", data, "--interval", "60s");
        var listening = await serve.WaitForLineAsync(ServeListening, TimeSpan.FromSeconds(60));
        var agentPort = listening.Groups[1].Value;
        var apiUrl = new Uri(listening.Groups[2].Value);

        var benches = new List<DroverProcess>();
        try
        {
            for (var started = 0; started < agents; started += AgentsPerBench)
            {
                benches.Add(DroverProcess.Start(
                    "bench", "--hub", $"127.0.0.1:{agentPort}", "--hub-pid", serve.Id.ToString(CultureInfo.InvariantCulture), "--hub-api", apiUrl.ToString(),
                    "--api-token", HubFixture.AdminToken, "--agents", Math.Min(AgentsPerBench, agents - started).ToString(CultureInfo.InvariantCulture),
                    "--duration", "600s", "--warmup", "0", "--idle", "0s", "--id-prefix", $"bench{benches.Count}"));
            }

            using var api = ApiClients.Create(apiUrl, null, HubFixture.AdminToken, TimeSpan.FromSeconds(30));
            var connecting = Stopwatch.StartNew();
            await Poll.UntilAsync(() => api.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView), s => s!.Connected >= agents, TimeSpan.FromSeconds(180), $"{agents} agents connected", TimeSpan.FromSeconds(1));
            output.WriteLine($"{agents} agents connected in {connecting.Elapsed.TotalSeconds:0.0} s");

            var idleCpu = await HubCpuAsync(serve.Id, TimeSpan.FromSeconds(20));
            var figures = await MeasurePageAsync(apiUrl, agents, serve.Id);
            figures["agents"] = agents;
            figures["hubCpuPercentNoViewer"] = Math.Round(idleCpu, 1);

            // Again without a viewer once the browser has gone: the windows before and after bracket the one with it.
            figures["hubCpuPercentNoViewerAfter"] = Math.Round(await HubCpuAsync(serve.Id, TimeSpan.FromSeconds(20)), 1);
            var json = JsonSerializer.Serialize(figures);
            output.WriteLine(json);
            await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "dashboard-scale.json"), json);

            Assert.True(figures["overviewLoadMs"] < 10_000, json);
            Assert.True(figures["agentsPageLoadMs"] < 5_000, json);
            Assert.True(figures["nextPageMs"] < 5_000, json);
            Assert.True(figures["summariesPerSecond"] >= 0.8, json);
            Assert.True(figures["framesPerSecond"] >= 20, json);
        }
        finally
        {
            foreach (var bench in benches)
            {
                await bench.DisposeAsync();
            }

            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<Dictionary<string, double>> MeasurePageAsync(Uri apiUrl, int agents, int hubPid)
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Chromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        var figures = new Dictionary<string, double>();
        var count = agents.ToString("N0", CultureInfo.InvariantCulture);

        // Overview: from navigation to the first live summary drawn with the whole fleet online.
        var clock = Stopwatch.StartNew();
        await page.GotoAsync($"{apiUrl}#token={Uri.EscapeDataString(HubFixture.AdminToken)}");
        await Poll.UntilAsync(async () => await page.Locator("#online-count").CountAsync() > 0 ? await page.InnerTextAsync("#online-count") : string.Empty, t => t == count, TimeSpan.FromSeconds(30), $"the overview to show {count} online", TimeSpan.FromMilliseconds(20));
        figures["overviewLoadMs"] = clock.ElapsedMilliseconds;

        // Live summaries drawn per second, counted in the page over 10 s, and the hub's CPU while a viewer watches.
        await page.EvaluateAsync("() => { window.__redraws = 0; new MutationObserver(() => window.__redraws++).observe(document.getElementById('overview-body'), { childList: true }); }");
        var viewerCpu = HubCpuAsync(hubPid, TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(10));
        figures["summariesPerSecond"] = Math.Round(await page.EvaluateAsync<double>("() => window.__redraws") / 10.0, 2);
        figures["hubCpuPercentOneViewer"] = Math.Round(await viewerCpu, 1);

        // Agents: the first page of 50 (sorted by id), then the next page, then a search.
        clock.Restart();
        await page.EvaluateAsync("() => { location.hash = '#/agents'; }");
        await Poll.UntilAsync(() => page.Locator("#agent-rows tr").CountAsync(), n => n == 50, TimeSpan.FromSeconds(30), "50 agent rows", TimeSpan.FromMilliseconds(20));
        figures["agentsPageLoadMs"] = clock.ElapsedMilliseconds;
        var first = await page.GetAttributeAsync("#agent-rows tr", "data-agent");
        clock.Restart();
        await page.ClickAsync("#agents-next");
        await Poll.UntilAsync(() => page.GetAttributeAsync("#agent-rows tr", "data-agent"), id => id != first, TimeSpan.FromSeconds(30), "the next page", TimeSpan.FromMilliseconds(20));
        figures["nextPageMs"] = clock.ElapsedMilliseconds;

        // Frames drawn while rows update in place (each of the 50 reports once a minute), and row updates received.
        await page.EvaluateAsync("() => { window.__frames = 0; window.__rows = 0; const tick = () => { window.__frames++; requestAnimationFrame(tick); }; requestAnimationFrame(tick); new MutationObserver(m => window.__rows += m.filter(r => r.attributeName === 'class' && r.target.classList.contains('flash')).length).observe(document.getElementById('agent-rows'), { attributes: true, subtree: true, attributeFilter: ['class'] }); }");
        await Task.Delay(TimeSpan.FromSeconds(20));
        figures["framesPerSecond"] = Math.Round(await page.EvaluateAsync<double>("() => window.__frames") / 20.0, 1);
        figures["rowUpdatesPerMinute"] = Math.Round(await page.EvaluateAsync<double>("() => window.__rows") * 3.0, 1);
        figures["pageHeapMB"] = Math.Round(await page.EvaluateAsync<double>("() => performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0"), 1);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "dashboard-scale-agents.png") });
        return figures;
    }

    /// <summary>The hub process's CPU over <paramref name="span"/>, in percent of one core (/proc/PID/stat utime + stime).</summary>
    private static async Task<double> HubCpuAsync(int pid, TimeSpan span)
    {
        static long Ticks(int pid)
        {
            var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }

        var before = Ticks(pid);
        var clock = Stopwatch.StartNew();
        await Task.Delay(span);
        return 100.0 * (Ticks(pid) - before) / 100.0 / clock.Elapsed.TotalSeconds;
    }
}
