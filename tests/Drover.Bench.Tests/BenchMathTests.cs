namespace Drover.Bench.Tests;

public class BenchMathTests
{
    [Fact]
    public void Peak_to_mean_is_one_for_an_even_spread_and_grows_with_a_spike()
    {
        Assert.Equal(1.0, BenchMath.PeakToMean([100, 100, 100, 100]));
        Assert.Equal(4.0, BenchMath.PeakToMean([0, 0, 0, 400]), precision: 9); // everyone at the top of the interval
        Assert.Equal(1.2, BenchMath.PeakToMean([90, 110, 120, 80]), precision: 9);
        Assert.Equal(0, BenchMath.PeakToMean([]));
        Assert.Equal(0, BenchMath.PeakToMean([0, 0]));
    }

    [Fact]
    public void Lost_reports_count_unacked_reports_and_stale_stored_statuses()
    {
        AgentTally[] agents =
        [
            new(Sent: 10, Acked: 10, InFlightAtKill: 0, LastAckedSequence: 10, StoredSequence: 10), // perfect
            new(Sent: 10, Acked: 8, InFlightAtKill: 0, LastAckedSequence: 8, StoredSequence: 8),    // two never acked
            new(Sent: 10, Acked: 10, InFlightAtKill: 0, LastAckedSequence: 10, StoredSequence: 9),  // acked but the store kept an older one
            new(Sent: 10, Acked: 9, InFlightAtKill: 1, LastAckedSequence: 9, StoredSequence: 9),    // one in flight when the hub was killed: not lost
            new(Sent: 5, Acked: 5, InFlightAtKill: 0, LastAckedSequence: 5, StoredSequence: null),  // store unknown (external hub)
        ];

        Assert.Equal(3, BenchMath.ReportsLost(agents));
    }

    [Fact]
    public void An_agent_that_never_reported_is_not_charged_for_an_empty_store_row()
    {
        Assert.Equal(0, BenchMath.ReportsLost([new AgentTally(0, 0, 0, 0, 0)]));
    }

    [Fact]
    public void Cpu_per_report_and_memory_per_agent()
    {
        Assert.Equal(20.0, BenchMath.CpuMicrosecondsPer(TimeSpan.FromSeconds(2), 100_000), precision: 9);
        Assert.Equal(0, BenchMath.CpuMicrosecondsPer(TimeSpan.FromSeconds(2), 0));
        Assert.Equal(2.0, BenchMath.KibPerAgent(60_000, 80_000, 10_000), precision: 9);
        Assert.Equal(0, BenchMath.KibPerAgent(80_000, 60_000, 10_000)); // a GC between readings never gives a negative figure
    }
}

public class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_are_within_two_percent_of_the_truth()
    {
        var histogram = new LatencyHistogram();
        for (var i = 1; i <= 10_000; i++)
        {
            histogram.Record(TimeSpan.FromMicroseconds(i * 10)); // 10 µs .. 100 ms, uniform
        }

        Assert.Equal(10_000, histogram.Count);
        AssertNear(TimeSpan.FromMilliseconds(50), histogram.Percentile(50));
        AssertNear(TimeSpan.FromMilliseconds(99), histogram.Percentile(99));
        AssertNear(TimeSpan.FromMilliseconds(100), histogram.Percentile(100));
    }

    [Fact]
    public void An_empty_histogram_reports_zero_and_records_from_many_threads_are_all_counted()
    {
        var histogram = new LatencyHistogram();
        Assert.Equal(TimeSpan.Zero, histogram.Percentile(99));
        Parallel.For(0, 100_000, i => histogram.Record(TimeSpan.FromMilliseconds(1)));
        Assert.Equal(100_000, histogram.Count);
        AssertNear(TimeSpan.FromMilliseconds(1), histogram.Percentile(50));
    }

    private static void AssertNear(TimeSpan expected, TimeSpan actual) =>
        Assert.InRange(actual.TotalMicroseconds, expected.TotalMicroseconds * 0.98, expected.TotalMicroseconds * 1.021);
}

public class ProcessFiguresTests
{
    [Fact]
    public void Cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses()
    {
        // pid (comm) state ppid ... utime(14) stime(15): 250 + 150 ticks at 100 Hz = 4 s.
        const string stat = "4242 (drover (hub) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 150 0 0 20 0 17 0 100 500000000 30000";
        Assert.Equal(TimeSpan.FromSeconds(4), ProcessFigures.ReadCpu(stat));
    }

    [Fact]
    public void Rss_threads_and_cpu_are_read_from_a_proc_tree()
    {
        var root = Directory.CreateTempSubdirectory("drover-proc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "77"));
            File.WriteAllText(Path.Combine(root, "77", "status"), "Name:\tdotnet\nVmPeak:\t 999 kB\nVmRSS:\t   123456 kB\nThreads:\t19\n");
            File.WriteAllText(Path.Combine(root, "77", "stat"), "77 (dotnet) S 1 77 77 0 -1 0 0 0 0 0 1000 500 0 0 20 0 19 0 1 2 3");
            File.WriteAllText(Path.Combine(root, "77", "io"), "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 8192000\ncancelled_write_bytes: 0\n");
            var figures = ProcessFigures.Read(77, root);
            Assert.Equal(8_192_000, figures.StorageWriteBytes);
            File.Delete(Path.Combine(root, "77", "io"));
            Assert.Equal(0, ProcessFigures.Read(77, root).StorageWriteBytes);
            Assert.Equal(123_456, figures.RssKib);
            Assert.Equal(19, figures.Threads);
            Assert.Equal(TimeSpan.FromSeconds(15), figures.CpuTime);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void This_process_can_be_read_from_the_real_proc()
    {
        var figures = ProcessFigures.Read(Environment.ProcessId);
        Assert.True(figures.RssKib > 1_000);
        Assert.True(figures.Threads >= 1);
        Assert.True(figures.CpuTime > TimeSpan.Zero);
    }
}

public class BenchOptionsTests
{
    [Theory]
    [InlineData(0, false, false, null, "--agents")]
    [InlineData(10, true, true, null, "--closed-loop")]
    [InlineData(10, false, false, 120, "--restart-at")]
    public void Contradictory_options_are_refused_with_the_flag_named(int agents, bool closedLoop, bool naive, int? restartAtSeconds, string flag)
    {
        var options = new BenchOptions
        {
            Agents = agents,
            ClosedLoop = closedLoop,
            Naive = naive,
            RestartAt = restartAtSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(flag, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task More_agents_than_open_files_allow_is_refused_before_anything_starts()
    {
        Assert.Equal(900, FleetBench.MaxAgentsForOpenFiles(1000));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => FleetBench.RunAsync(new BenchOptions { Agents = 5_000 }, 1024, null, CancellationToken.None));
        Assert.Contains("open files", error.Message, StringComparison.Ordinal);
    }
}

public class SourceAddressTests
{
    [Fact]
    public void Past_each_block_of_agents_the_next_loopback_source_address_is_used()
    {
        var fleet = new Internal.SimFleet(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 7400), "t", false, false, agents: 1, agentsPerSource: 25_000);
        Assert.Null(fleet.SourceAddressFor(0));
        Assert.Null(fleet.SourceAddressFor(24_999));
        Assert.Equal("127.0.0.2", fleet.SourceAddressFor(25_000)!.ToString());
        Assert.Equal("127.0.0.3", fleet.SourceAddressFor(50_000)!.ToString());
    }

    [Fact]
    public void A_hub_off_loopback_gets_the_default_source_address()
    {
        var fleet = new Internal.SimFleet(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.1.2.3"), 7400), "t", false, false, agents: 1, agentsPerSource: 10);
        Assert.Null(fleet.SourceAddressFor(500));
    }
}
