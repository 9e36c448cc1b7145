using System.Net;
using Drover.Agent;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Playwright;

namespace Drover.Browser.Tests;

/// <summary>What the dashboard tests look at: a real hub (1 s report interval) with 200 real agents reporting on their
/// slots, one worker agent that runs jobs, and Debian's Chromium driven by Playwright. Shared by the tests of
/// <see cref="DashboardTests"/>, which run one after another.</summary>
public sealed class DashboardFleet : IAsyncLifetime, IDisposable
{
    public const int FleetSize = 200;

    public const string Worker = "worker-1";


    private readonly CancellationTokenSource _stop = new();
    private readonly List<DroverAgent> _agents = [];
    private readonly List<Task> _runs = [];
    private IPlaywright? _playwright;

    public HubFixture Hub { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Script errors and console errors of every page opened, which a test may print or assert on.</summary>
    public System.Collections.Concurrent.ConcurrentBag<string> PageErrors { get; } = [];

    /// <summary>Where the screenshots go: beside the test output (bin/…/screenshots).</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async Task InitializeAsync()
    {
        Hub = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1), LateGrace = TimeSpan.FromSeconds(2) });
        for (var i = 0; i < FleetSize; i++)
        {
            Start(AgentFor($"fleet-{i:D4}", new Dictionary<string, string> { ["rack"] = $"r{i % 4}" }));
        }

        Start(AgentFor(Worker, new Dictionary<string, string> { ["role"] = "worker" }) with
        {
            JobHandler = new EchoHandler(),
            JobSlots = 2,
            WorkDirectory = Directory.CreateTempSubdirectory("drover-dash-worker-").FullName,
        });

        await Poll.UntilAsync(() => Task.FromResult(Hub.Hub.ConnectedAgents), n => n == FleetSize + 1, TimeSpan.FromSeconds(30), "the fleet to connect");
        _playwright = await Playwright.CreateAsync();
        Browser = await Chromium.LaunchAsync(_playwright);
        Directory.CreateDirectory(ScreenshotDirectory);
    }

    /// <summary>A new page at the dashboard's <paramref name="route"/> (e.g. <c>#/agents</c>), signed in with the admin
    /// token through the address, as drover demo prints it.</summary>
    public async Task<IPage> OpenAsync(string route)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        page.SetDefaultTimeout(20_000);
        page.PageError += (_, error) => PageErrors.Add(error);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                PageErrors.Add(message.Text);
            }
        };
        await page.GotoAsync($"{Hub.ApiUrl}#token={Uri.EscapeDataString(HubFixture.AdminToken)}");
        await page.WaitForSelectorAsync("#live.on");
        if (route != "#/")
        {
            await page.EvaluateAsync($"() => {{ location.hash = '{route}'; }}");
        }

        return page;
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    private AgentOptions AgentFor(string id, IReadOnlyDictionary<string, string> labels) => new()
    {
        Hubs = [$"127.0.0.1:{Hub.AgentEndPoint.Port}"],
        AgentId = id,
        Labels = labels,
        Trust = HubTrust.Insecure, // the fixture's hub is plain TCP
        BackoffBase = TimeSpan.FromMilliseconds(100),
        BackoffCap = TimeSpan.FromSeconds(1),
        StatusProvider = _ => ValueTask.FromResult<IReadOnlyDictionary<string, FieldValue>>(new Dictionary<string, FieldValue>
        {
            ["temperature"] = FieldValue.From(40.0 + Random.Shared.Next(20)),
            ["queue"] = FieldValue.From((long)Random.Shared.Next(10)),
        }),
    };

    private void Start(AgentOptions options)
    {
        var agent = new DroverAgent(options);
        _agents.Add(agent);
        _runs.Add(agent.RunAsync(_stop.Token));
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_runs).WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { }, TaskScheduler.Default);
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        await Hub.DisposeAsync();
    }

    public void Dispose() => _stop.Dispose();

    /// <summary>The worker's jobs: prints the file's first line and its size.</summary>
    private sealed class EchoHandler : IJobHandler
    {
        public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
        {
            var text = await File.ReadAllTextAsync(job.FilePath, cancellationToken);
            await Task.Delay(300, cancellationToken);
            return new JobHandlerResult(0) { StdoutTail = System.Text.Encoding.UTF8.GetBytes($"echo: {text.Split('\n')[0]} ({text.Length} bytes)\n") };
        }
    }
}
