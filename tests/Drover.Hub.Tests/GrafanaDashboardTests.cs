using System.Text.Json;
using System.Text.RegularExpressions;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>Keeps deploy/grafana/drover-hub.json honest: every metric its queries name is one that a hub's
/// <c>/metrics</c> serves (scraped after the hub recorded every kind of measurement), and every metric the hub serves
/// (but the exporter's <c>target_info</c>) is on the dashboard.</summary>
public sealed partial class GrafanaDashboardTests
{
    [Fact]
    public async Task Every_metric_the_dashboard_queries_is_served_and_every_served_metric_is_on_the_dashboard()
    {
        var queried = QueriedMetrics();
        Assert.NotEmpty(queried);

        await using var fixture = await JobTestKit.StartAsync(more: o => o with { ReportInterval = TimeSpan.FromSeconds(1) });
        await using (var agent = await JobTestKit.ConnectAgentAsync(fixture, "grafana-1", slots: 1))
        {
            // A job: its submission and lease and result make the job writer flush and the latencies record.
            await fixture.Hub.Jobs.SubmitAsync([JobTestKit.MakeJob()], CancellationToken.None);
            await JobTestKit.CompleteAsync(agent, await agent.ReceiveAsync<Job>());

            // Reports more than half an interval apart in one session: the arrival lag records them.
            for (ulong sequence = 1; sequence <= 3; sequence++)
            {
                await agent.SendAsync(RawProtocolClient.MakeStatus(sequence));
                await agent.ReceiveAsync<StatusAck>();
                await Task.Delay(600);
            }
        }

        var metrics = await MetricsTests.ScrapeUntilAsync(
            fixture,
            m => m.Value("drover_reports_arrival_lag_seconds_count") > 0
                && m.Value("drover_jobs_run_duration_seconds_count") == 1
                && m.Value("drover_store_flush_duration_seconds_count", ("writer", "status")) > 0
                && m.Value("drover_store_flush_duration_seconds_count", ("writer", "jobs")) > 0,
            "every histogram has a measurement");
        var served = metrics.SampleNames;
        Assert.Empty(queried.Except(served).Order(StringComparer.Ordinal));

        var families = metrics.Families.Keys.Where(f => f != "target_info").ToHashSet(StringComparer.Ordinal);
        var onDashboard = queried.Select(name => metrics.Samples.FirstOrDefault(s => s.Name == name)?.Family).OfType<string>().ToHashSet(StringComparer.Ordinal);
        Assert.Empty(families.Except(onDashboard).Order(StringComparer.Ordinal));
    }

    /// <summary>The metric names in the dashboard's queries (panel targets and template variables).</summary>
    private static HashSet<string> QueriedMetrics()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(TestPaths.RepositoryFile("deploy", "grafana", "drover-hub.json")));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var query in Strings(dashboard.RootElement, inQuery: false))
        {
            foreach (Match match in MetricName().Matches(query))
            {
                names.Add(match.Value);
            }
        }

        return names;
    }

    /// <summary>Every string under an <c>expr</c>, <c>query</c> or <c>definition</c> property.</summary>
    private static IEnumerable<string> Strings(JsonElement element, bool inQuery) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => Strings(p.Value, inQuery || p.Name is "expr" or "query" or "definition")),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(e => Strings(e, inQuery)),
        JsonValueKind.String when inQuery => [element.GetString()!],
        _ => [],
    };

    [GeneratedRegex(@"\bdrover_[a-z0-9_]+")]
    private static partial Regex MetricName();
}
