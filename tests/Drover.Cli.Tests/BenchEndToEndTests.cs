using System.Text.Json;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>`drover bench` as a child process: it starts its own `drover serve` child, simulates a
/// small fleet, and prints every figure. The figures' values live in docs/benchmarks.md; here the
/// test checks the JSON is complete and that nothing was lost.</summary>
public sealed class BenchEndToEndTests
{
    private static readonly string[] RequiredFields =
    [
        "agents", "connected", "connect_seconds", "hub_rss_kib_per_agent", "hub_threads", "reports_acked",
        "reports_per_second", "hub_cpu_us_per_report", "ack_p50_ms", "ack_p99_ms", "arrivals_peak_to_mean",
        "reports_lost", "reconnect_seconds", "agents_gave_up", "failures",
    ];

    private static async Task<JsonElement> BenchAsync(params string[] args)
    {
        var (exit, output, error) = await DroverProcess.RunAsync(["bench", "--json", "--idle", "1s", .. args]);
        Assert.True(exit == 0, $"bench exited {exit}\n{output}\n{error}");
        var result = JsonDocument.Parse(output).RootElement;
        foreach (var field in RequiredFields)
        {
            Assert.True(result.TryGetProperty(field, out _), $"the JSON has no '{field}': {output}");
        }

        Assert.Equal(0, result.GetProperty("failures").GetArrayLength());
        Assert.Equal(0, result.GetProperty("reports_lost").GetInt64());
        return result;
    }

    [Fact]
    public async Task A_small_interval_run_connects_everyone_and_loses_nothing()
    {
        var result = await BenchAsync("--agents", "300", "--interval", "1s", "--duration", "4s");
        Assert.Equal(300, result.GetProperty("connected").GetInt32());
        Assert.Equal(300, result.GetProperty("hub_online").GetInt32());
        Assert.True(result.GetProperty("reports_acked").GetInt64() >= 600, "each agent reports about once a second");
        Assert.True(result.GetProperty("arrivals_peak_to_mean").GetDouble() >= 1.0);
        Assert.True(result.GetProperty("hub_cpu_us_per_report").GetDouble() > 0);
        Assert.True(result.GetProperty("hub_write_bytes_per_report").GetDouble() > 0, "the flush writes the reports' status");
    }

    [Fact]
    public async Task Agents_spread_over_several_loopback_source_addresses_connect_like_the_rest()
    {
        // 100 agents per source address: 250 agents use 127.0.0.1, .2 and .3.
        var result = await BenchAsync("--agents", "250", "--interval", "1s", "--duration", "2s", "--agents-per-source-address", "100");
        Assert.Equal(250, result.GetProperty("hub_online").GetInt32());
    }

    [Fact]
    public async Task A_closed_loop_run_measures_throughput()
    {
        var result = await BenchAsync("--agents", "100", "--closed-loop", "--duration", "2s");
        Assert.True(result.GetProperty("reports_per_second").GetDouble() > 100);
        Assert.True(result.GetProperty("ack_p99_ms").GetDouble() >= result.GetProperty("ack_p50_ms").GetDouble());
    }

    [Fact]
    public async Task A_restart_run_kills_the_hub_and_every_agent_comes_back()
    {
        var result = await BenchAsync("--agents", "200", "--interval", "1s", "--duration", "6s", "--restart-at", "2s");
        Assert.Equal(0, result.GetProperty("agents_gave_up").GetInt32());
        Assert.Equal(0, result.GetProperty("lost_during_grace").GetInt32());
        Assert.True(result.GetProperty("reconnect_seconds").GetDouble() > 0);
    }

    [Fact]
    public async Task A_job_run_finishes_every_job_exactly_once_and_loses_none()
    {
        var result = await BenchAsync("--jobs", "2000", "--agents", "20", "--batch", "250", "--warmup-jobs", "200", "--drain", "10s");
        Assert.Equal("jobs", result.GetProperty("mode").GetString());
        Assert.Equal(20, result.GetProperty("connected").GetInt32());
        Assert.Equal(2000, result.GetProperty("jobs_accepted").GetInt64());
        Assert.Equal(2000, result.GetProperty("jobs_done").GetInt64());
        Assert.Equal(0, result.GetProperty("jobs_lost").GetInt64());
        Assert.Equal(2000, result.GetProperty("hub_jobs_done").GetInt64()); // the hub's own count agrees
        Assert.Equal(0, result.GetProperty("hub_jobs_dead").GetInt64());
        Assert.Equal(0, result.GetProperty("hub_jobs_open").GetInt64());
        Assert.Equal(0, result.GetProperty("hash_mismatches").GetInt64());
        Assert.InRange(result.GetProperty("max_jobs_held").GetInt64(), 1, 16); // 8 slots, plus at most 8 acks still on their way
        Assert.Equal(8, result.GetProperty("requests").GetInt64() - result.GetProperty("requests_retried").GetInt64());
        Assert.True(result.GetProperty("jobs_per_second").GetDouble() > 0);
        Assert.True(result.GetProperty("hub_cpu_us_per_job").GetDouble() > 0);
        Assert.True(result.GetProperty("job_p99_ms").GetDouble() >= result.GetProperty("job_p50_ms").GetDouble());
        Assert.True(result.GetProperty("job_max_ms").GetDouble() >= result.GetProperty("job_p99_ms").GetDouble() * 0.98);
    }

    [Fact]
    public async Task Agents_running_jobs_keep_reporting_so_a_job_run_longer_than_three_intervals_loses_no_time()
    {
        // At a 1 s interval the hub closes an agent silent for three intervals plus the grace; the simulated agents used to
        // stay quiet in job mode, so the jobs they held waited out the 30 s disconnect grace.
        var result = await BenchAsync("--jobs", "400", "--rate", "50", "--agents", "10", "--batch", "10", "--interval", "1s", "--warmup-jobs", "0", "--drain", "20s");
        Assert.Equal(400, result.GetProperty("jobs_done").GetInt64());
        Assert.Equal(0, result.GetProperty("jobs_lost").GetInt64());
        Assert.InRange(result.GetProperty("job_seconds").GetDouble(), 6, 15); // 400 at 50 a second: 8 s, longer than 3 intervals plus the grace
        Assert.True(result.GetProperty("job_max_ms").GetDouble() < 5_000, $"a job took {result.GetProperty("job_max_ms").GetDouble()} ms");
    }

    [Fact]
    public async Task Wrong_bench_flags_are_refused_clearly()
    {
        var (exit, _, error) = await DroverProcess.RunAsync("bench", "--closed-loop", "--naive");
        Assert.Equal(2, exit);
        Assert.Contains("--closed-loop", error, StringComparison.Ordinal);

        (exit, _, error) = await DroverProcess.RunAsync("bench", "--jobs", "10", "--file-size", "lots");
        Assert.Equal(2, exit);
        Assert.Contains("--file-size", error, StringComparison.Ordinal);
    }
}
