using System.Net;
using Drover.Agent;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary><c>GET /metrics</c> on a real hub with real agents: Prometheus text that a strict reader accepts, counters
/// that move with the fleet, refusals under their reason, a read token needed, and each hub's numbers its own.</summary>
public sealed class MetricsTests
{
    private static AgentOptions AgentFor(string id, IPEndPoint hub) => new()
    {
        Hubs = [$"127.0.0.1:{hub.Port}"],
        AgentId = id,
        Trust = HubTrust.Insecure,
        BackoffBase = TimeSpan.FromMilliseconds(100),
        BackoffCap = TimeSpan.FromSeconds(1),
    };

    internal static async Task<PrometheusText> ScrapeAsync(HubFixture fixture)
    {
        using var http = fixture.CreateApiClient();
        using var response = await http.GetAsync(new Uri("metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (the exporter caches an answer for a second).</summary>
    internal static async Task<PrometheusText> ScrapeUntilAsync(HubFixture fixture, Func<PrometheusText, bool> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var metrics = await ScrapeAsync(fixture);
            if (condition(metrics))
            {
                return metrics;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {because}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Metrics_need_a_token_and_parse_as_prometheus_text_with_every_series_primed()
    {
        await using var fixture = await HubFixture.StartAsync();
        using (var anonymous = fixture.CreateApiClient(token: null))
        {
            using var refused = await anonymous.GetAsync(new Uri("metrics", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        var metrics = await ScrapeAsync(fixture);
        Assert.Equal("counter", metrics.Families["drover_reports_received_total"].Type);
        Assert.Equal(0, metrics.Value("drover_reports_received_total"));
        Assert.Equal("gauge", metrics.Families["drover_agents"].Type);
        Assert.Equal(0, metrics.Value("drover_agents", ("state", "online")));
        Assert.Equal(0, metrics.Value("drover_handshake_refusals_total", ("reason", "capacity_reached")));
        Assert.Equal(0, metrics.Value("drover_connections_closed_total", ("reason", "missed_reports")));
        Assert.Equal(0, metrics.Value("drover_outbound_overflows_total"));
        Assert.True(metrics.Value("drover_connections_limit") > 0);
        Assert.True(metrics.Value("drover_process_open_files_limit") > 0);
        Assert.Equal(60, metrics.Value("drover_report_interval_seconds"));
        Assert.NotNull(metrics.Families["drover_reports_received_total"].Help);
    }

    [Fact]
    public async Task Counters_move_when_agents_report_and_refused_hellos_show_under_their_reason()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1) });
        var stop = new CancellationTokenSource();
        var agents = Enumerable.Range(0, 5).Select(i => new DroverAgent(AgentFor($"metrics-{i}", fixture.AgentEndPoint))).ToList();
        var runs = agents.Select(a => a.RunAsync(stop.Token)).ToList();
        try
        {
            await HubFixture.WaitUntilAsync(() => agents.All(a => a.ReportsAcked >= 4), because: "every agent has four reports acked");
            var metrics = await ScrapeUntilAsync(
                fixture,
                m => m.Value("drover_reports_received_total") >= 20 && m.Value("drover_agents", ("state", "online")) == 5
                    && m.Value("drover_reports_arrival_lag_seconds_count") > 0 && m.Value("drover_store_flush_batch_size_count", ("writer", "status")) > 0,
                "the scrape shows the reports, five agents online, their arrival lag and a status flush");
            Assert.Equal(5, metrics.Value("drover_connections_open"));
            Assert.Equal(5, metrics.Value("drover_connections_opened_total"));
            Assert.Equal(5, metrics.Value("drover_reports_expected_per_second"));
            Assert.True(metrics.Value("drover_store_flush_duration_seconds_sum", ("writer", "status")) > 0);
            Assert.True(metrics.Value("drover_reports_arrival_lag_seconds_bucket", ("le", "+Inf")) > 0);

            await using (var impostor = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint))
            {
                Assert.IsType<Refuse>(await impostor.HandshakeAsync(RawProtocolClient.MakeHello("not a valid id")));
            }

            await ScrapeUntilAsync(fixture, m => m.Value("drover_handshake_refusals_total", ("reason", "invalid_agent_id")) == 1, "the refusal is counted under its reason");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15));
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }

            stop.Dispose();
        }

        var after = await ScrapeUntilAsync(
            fixture,
            m => m.Value("drover_agents", ("state", "online")) == 0 && m.Value("drover_connections_closed_total", ("reason", "agent_closed")) == 5,
            "the agents' byes are counted as closes");
        Assert.Equal(1, after.Value("drover_connections_closed_total", ("reason", "refused")));
    }

    [Fact]
    public async Task Each_hub_in_a_process_shows_only_its_own_numbers()
    {
        await using var busy = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1) });
        await using var quiet = await HubFixture.StartAsync();
        await using (var agent = await RawProtocolClient.ConnectAsync(busy.AgentEndPoint))
        {
            Assert.IsType<Welcome>(await agent.HandshakeAsync(RawProtocolClient.MakeHello("isolated-1")));
            for (ulong sequence = 1; sequence <= 3; sequence++)
            {
                await agent.SendAsync(RawProtocolClient.MakeStatus(sequence));
                Assert.IsType<StatusAck>(await agent.ReceiveAsync());
            }

            await ScrapeUntilAsync(busy, m => m.Value("drover_reports_received_total") == 3 && m.Value("drover_agents", ("state", "online")) == 1, "the busy hub counts its reports");
        }

        var metrics = await ScrapeAsync(quiet);
        Assert.Equal(0, metrics.Value("drover_reports_received_total"));
        Assert.Equal(0, metrics.Value("drover_agents", ("state", "online")));
        Assert.Equal(0, metrics.Value("drover_connections_opened_total"));
        Assert.Single(metrics.Samples, s => s.Name == "drover_reports_received_total");
    }

    [Fact]
    public void Recording_a_report_allocates_nothing_while_the_exporter_listens()
    {
        var schedule = new Fleet.ReportSchedule(TimeSpan.FromSeconds(60), 1000);
        using var metrics = new Metrics.HubMetrics(schedule);
        using var exporter = new Metrics.MetricsExporter(metrics, "alloc-test");
        var start = DateTime.UtcNow.Ticks;
        var interval = TimeSpan.FromSeconds(60).Ticks;
        for (var i = 0; i < 1000; i++)
        {
            metrics.ReportReceived(start + (i * interval) + i, start + ((i - 1) * interval), 1, i);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100_000; i++)
        {
            metrics.ReportReceived(start + (i * interval) + i, start + ((i - 1) * interval), 1, i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(60_000, 0, 120_000, 0)]          // on the slot
    [InlineData(60_000, 0, 120_250, 0.25)]       // 250 ms after it
    [InlineData(60_000, 0, 119_990, 0)]          // 10 ms early: on time
    [InlineData(60_000, 15_000, 75_000 + 29_000, 29)]
    [InlineData(60_000, 15_000, 75_000 + 31_000, 0)] // past half the interval: early for the next slot
    public void The_arrival_lag_is_measured_from_the_nearest_slot_time(long intervalMs, long slotOffsetMs, long arrivalUnixMs, double lagSeconds)
    {
        var ticks = DateTime.UnixEpoch.Ticks + (arrivalUnixMs * TimeSpan.TicksPerMillisecond);
        Assert.Equal(lagSeconds, Metrics.HubMetrics.ArrivalLagSeconds(ticks, intervalMs, slotOffsetMs), 6);
    }
}
