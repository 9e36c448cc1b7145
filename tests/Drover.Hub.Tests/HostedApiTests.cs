using System.Net;
using System.Text.Json;
using Drover.Storage.Sqlite;
using Drover.TestUtilities;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Drover.Hub.Tests;

/// <summary>The hub's HTTP API on an app the caller hosts (as drover serve does): <see cref="DroverHub.ConfigureApiServices"/>,
/// <see cref="DroverHub.ConfigureApiKestrel"/> and <see cref="DroverHub.MapApi"/>, with a real Kestrel on 127.0.0.1:0.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the fields.")]
public sealed class HostedApiTests : IAsyncLifetime
{
    private readonly string _directory = HubFixture.NewDataDirectory();
    private SqliteFleetStore _store = null!;
    private SqliteJobStore _jobStore = null!;
    private SqliteAccessStore _accessStore = null!;

    public Task InitializeAsync()
    {
        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(_directory, "drover.db") };
        _store = new SqliteFleetStore(storeOptions);
        _jobStore = new SqliteJobStore(storeOptions);
        _accessStore = new SqliteAccessStore(storeOptions);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _accessStore.DisposeAsync();
        await _jobStore.DisposeAsync();
        await _store.DisposeAsync();
        TestPaths.DeleteDirectoryQuietly(_directory);
    }

    [Fact]
    public async Task The_API_answers_503_until_the_hub_has_started_then_serves_it_and_its_metrics_and_the_hub_starts_no_server_of_its_own()
    {
        var options = new HubOptions
        {
            AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HttpEndPoint = new IPEndPoint(IPAddress.Loopback, 0), // the host's business once HostedApi is set
            HubId = "hosted-hub",
            AdminToken = HubFixture.AdminToken,
        };
        await using var hub = new DroverHub(options, _store, _jobStore, _accessStore) { HostedApi = true };
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => DroverHub.ConfigureApiKestrel(kestrel, new IPEndPoint(IPAddress.Loopback, 0), tls: null));
        DroverHub.ConfigureApiServices(builder.Services);
        await using var app = builder.Build();
        DroverHub? current = null;
        DroverHub.UseApiProblems(app);
        DroverHub.MapApi(app, () => current);

        // The wrong order on purpose (a host must start the hub first): requests meanwhile never reach the hub.
        await app.StartAsync();
        var url = new Uri(app.Urls.First());
        using var http = new HttpClient { BaseAddress = url };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", HubFixture.AdminToken);
        foreach (var hubGiven in new[] { false, true })
        {
            current = hubGiven ? hub : null;
            using var early = await http.GetAsync(new Uri("/api/stats", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
            Assert.Equal("1", early.Headers.GetValues("Retry-After").Single());
            Assert.Equal(Drover.Api.ApiProblem.MediaType, early.Content.Headers.ContentType?.MediaType);
            Assert.Contains("\"code\":\"starting\"", await early.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await hub.StartAsync(CancellationToken.None);
        Assert.Null(hub.ApiUrl);
        Assert.Empty(hub.ApiEndpoints); // no private app
        hub.ApiListening(url);
        Assert.Equal(url, hub.ApiUrl);

        using var stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/stats", UriKind.Relative)));
        Assert.Equal("hosted-hub", stats.RootElement.GetProperty("hubId").GetString());
        Assert.Equal("ok", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
        var metrics = PrometheusText.Parse(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
        Assert.Equal(0, metrics.Value("drover_reports_received_total"));
        Assert.Equal(1, metrics.Value("target_info", ("service_instance_id", "hosted-hub")));

        // The OpenAPI document on the host's app too, open; the framework's 404 under /api as problem details.
        using var anonymous = new HttpClient { BaseAddress = url };
        using var openApi = JsonDocument.Parse(await anonymous.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        Assert.True(openApi.RootElement.GetProperty("paths").TryGetProperty("/api/agents/{id}/events", out _));
        using var noRoute = await http.GetAsync(new Uri("/api/nothing-here", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, noRoute.StatusCode);
        Assert.Contains("\"code\":\"no-route\"", await noRoute.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await app.StopAsync();
    }

    [Fact]
    public async Task ApiListening_is_for_a_started_hub_whose_API_a_host_serves()
    {
        await using var hub = new DroverHub(new HubOptions { AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0) }, _store, _jobStore, _accessStore);
        Assert.Throws<InvalidOperationException>(() => hub.ApiListening(new Uri("http://127.0.0.1:1/")));
        await using var hosted = new DroverHub(new HubOptions { AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0) }, _store, _jobStore, _accessStore) { HostedApi = true };
        Assert.Throws<InvalidOperationException>(() => hosted.ApiListening(new Uri("http://127.0.0.1:1/")));
    }
}
