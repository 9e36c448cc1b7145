using Drover.TestUtilities;
using Microsoft.Playwright;

namespace Drover.Browser.Tests;

/// <summary><c>drover demo</c> (a real child process) prints the dashboard's address, and the dashboard at that address
/// shows the demo's fleet live.</summary>
public sealed class DemoDashboardTests
{
    [Fact]
    public async Task The_demo_prints_the_dashboard_address_and_the_dashboard_shows_its_fleet()
    {
        await using var demo = DroverProcess.Start("demo", "--agents", "60", "--duration", "90s", "--http", "127.0.0.1:0", "--jobs-per-second", "5");
        var line = await demo.WaitForLineAsync(@"Dashboard: (https://127\.0\.0\.1:\d+/#token=\S+)", TimeSpan.FromSeconds(60));
        var url = line.Groups[1].Value;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Chromium.LaunchAsync(playwright);

        // The demo's hub has its own CA, which this browser does not know (the demo says so next to the address).
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { IgnoreHTTPSErrors = true });
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(url);
        await Poll.UntilAsync(async () => await page.Locator("#online-count").CountAsync() > 0 ? await page.InnerTextAsync("#online-count") : string.Empty, t => t == "60", TimeSpan.FromSeconds(60), "the demo's 60 agents online on the dashboard");
        Assert.DoesNotContain("token=", page.Url, StringComparison.Ordinal);

        // Jobs flow: the demo sends 5 a second, and the jobs page lists them as they finish.
        await page.EvaluateAsync("() => { location.hash = '#/jobs'; }");
        await page.WaitForSelectorAsync("#jobs-table .s-done");
    }
}
