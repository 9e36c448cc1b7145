using Drover.Agent.Internal.Jobs;
using Drover.Agent.Internal.Reports;
using Drover.Agent.Internal.Session;
using Drover.Protocol;

namespace Drover.Agent.Tests;

public sealed class OptionsAndPartsTests
{
    private static AgentOptions Valid => new() { Hubs = ["127.0.0.1:7400"], AgentId = "web-01" };

    [Fact]
    public void Defaults_are_documented_values()
    {
        var options = new AgentOptions();
        Assert.Equal(Environment.MachineName, options.AgentId);
        Assert.Equal(string.Empty, options.Token);
        Assert.Equal(0, options.JobSlots);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.BackoffBase);
        Assert.Equal(TimeSpan.FromSeconds(30), options.BackoffCap);
        Assert.Equal(TimeSpan.FromSeconds(10), options.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ConnectTimeout);
        Assert.Equal(16, options.StatusBacklog);
        Assert.Same(TimeProvider.System, options.TimeProvider);
        Assert.False(string.IsNullOrEmpty(options.AgentVersion));
        Valid.Validate();
    }

    [Theory]
    [InlineData("no hubs")]
    [InlineData("host-without-port")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    [InlineData(":7400")]
    [InlineData("[::1]7400")]
    public void Bad_hub_lists_are_rejected(string hub)
    {
        var options = hub == "no hubs" ? Valid with { Hubs = [] } : Valid with { Hubs = [hub] };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("hub", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Bad_ids_and_timings_are_rejected_with_a_clear_message()
    {
        Assert.Contains("agent id", Assert.Throws<ArgumentException>((Valid with { AgentId = "has space" }).Validate).Message, StringComparison.Ordinal);
        Assert.Contains("cap", Assert.Throws<ArgumentException>((Valid with { BackoffCap = TimeSpan.FromMilliseconds(100) }).Validate).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>((Valid with { ConnectTimeout = TimeSpan.Zero }).Validate);
        Assert.Throws<ArgumentException>((Valid with { StatusBacklog = -1 }).Validate);
        Assert.Throws<ArgumentException>(() => new DroverAgent(Valid with { Hubs = ["nope"] }));
    }

    [Fact]
    public void Every_broken_rule_is_listed_with_the_properties_it_concerns_and_Validate_throws_the_first()
    {
        Assert.Empty(Valid.GetValidationErrors());

        var options = Valid with { AgentId = "has space", BackoffBase = TimeSpan.FromSeconds(10), BackoffCap = TimeSpan.FromSeconds(1) };
        var errors = options.GetValidationErrors();
        Assert.Equal(2, errors.Count);
        Assert.Equal([nameof(AgentOptions.AgentId)], errors[0].MemberNames);
        Assert.Equal([nameof(AgentOptions.BackoffCap), nameof(AgentOptions.BackoffBase)], errors[1].MemberNames);

        var thrown = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(AgentOptions.AgentId), thrown.ParamName);
        Assert.StartsWith(errors[0].ErrorMessage!, thrown.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:7400", "127.0.0.1", 7400)]
    [InlineData("hub.example.com:1", "hub.example.com", 1)]
    [InlineData("[::1]:7400", "::1", 7400)]
    public void Hub_addresses_parse(string text, string host, int port)
    {
        Assert.True(HubAddress.TryParse(text, out var address, out _));
        Assert.Equal(host, address.Host);
        Assert.Equal(port, address.Port);
        Assert.Equal(text, address.ToString());
    }

    [Fact]
    public void Backlog_keeps_the_latest_samples_and_drops_the_oldest()
    {
        var backlog = new StatusBacklog(3);
        for (ulong i = 1; i <= 5; i++)
        {
            backlog.Add(new Status(i, AgentState.Idle, ProtocolConstants.NoProgress, []));
        }

        Assert.Equal([3UL, 4UL, 5UL], backlog.Snapshot().Select(s => s.Sequence));
        Assert.Equal(2, backlog.Dropped);
        Assert.True(backlog.TryPeek(out var oldest));
        backlog.RemoveSent(oldest);
        Assert.Equal([4UL, 5UL], backlog.Snapshot().Select(s => s.Sequence));
    }

    [Fact]
    public void Proc_files_parse_into_fields()
    {
        var fields = new List<KeyValuePair<string, FieldValue>>();
        SystemMetrics.ParseLoadAvg("0.52 0.58 1.59 1/389 12345\n", fields);
        SystemMetrics.ParseMemInfo("MemTotal:       16318412 kB\nMemFree:  1 kB\nMemAvailable:    8000000 kB\n", fields);

        Assert.Equal(
            [
                new("load1", FieldValue.From(0.52)),
                new("load5", FieldValue.From(0.58)),
                new("load15", FieldValue.From(1.59)),
                new("mem_total_bytes", FieldValue.From(16318412L * 1024)),
                new("mem_available_bytes", FieldValue.From(8000000L * 1024)),
            ],
            fields);
    }

    [Fact]
    public void SetField_rejects_empty_keys_and_RemoveField_reports_whether_it_removed()
    {
        var agent = new DroverAgent(Valid);
        Assert.Throws<ArgumentException>(() => agent.SetField("", FieldValue.From(1L)));
        agent.SetField("k", FieldValue.From(1L));
        Assert.True(agent.RemoveField("k"));
        Assert.False(agent.RemoveField("k"));
        Assert.Throws<ArgumentOutOfRangeException>(() => agent.SetProgress(101));
    }

    [Fact]
    public void Job_options_default_from_the_handler_and_are_validated()
    {
        var handler = new ProcessJobHandler("true");
        Assert.Equal(0, Valid.JobSlots);
        Assert.Equal(Math.Min(Environment.ProcessorCount, ushort.MaxValue), (Valid with { JobHandler = handler }).JobSlots);
        Assert.Equal(3, (Valid with { JobHandler = handler, JobSlots = 3 }).JobSlots);
        Assert.Equal(0, (Valid with { JobHandler = handler, JobSlots = 0 }).JobSlots);
        Assert.Equal(4096, Valid.OutputTailBytes);
        Assert.Equal(1024 * 1024, Valid.MaxOutFileBytes);
        Assert.Equal(1000, Valid.MaxUnackedResults);
        Assert.EndsWith(Path.Combine("drover", "agent-web-01", "work"), Valid.WorkDirectory, StringComparison.Ordinal);
        Assert.Equal("/tmp/w", (Valid with { WorkDirectory = "/tmp/w" }).WorkDirectory);
        (Valid with { JobHandler = handler }).Validate();

        Assert.Contains("job handler", Assert.Throws<ArgumentException>((Valid with { JobSlots = 2 }).Validate).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, OutputTailBytes = -1 }).Validate);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, OutputTailBytes = 2 * 1024 * 1024 }).Validate);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, MaxOutFileBytes = 17 * 1024 * 1024 }).Validate);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, MaxUnackedResults = 0 }).Validate);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, WorkDirectory = " " }).Validate);
        Assert.Throws<ArgumentException>((Valid with { JobHandler = handler, WorkDirectory = "a\0b" }).Validate);
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(4, 3)]
    [InlineData(4, 4)]
    [InlineData(4, 10)]
    [InlineData(7, 100)]
    public void Tail_buffer_keeps_the_last_bytes_whatever_the_write_sizes(int capacity, int total)
    {
        var data = Enumerable.Range(0, total).Select(i => (byte)i).ToArray();
        foreach (var chunk in new[] { 1, 2, 3, 5, 8, 100 })
        {
            var tail = new TailBuffer(capacity);
            for (var i = 0; i < total; i += chunk)
            {
                tail.Write(data.AsSpan(i, Math.Min(chunk, total - i)));
            }

            Assert.Equal(data[Math.Max(0, total - capacity)..], tail.ToArray());
            Assert.Equal(total, tail.TotalBytes);
        }
    }

    [Theory]
    [InlineData("a.txt", ".txt")]
    [InlineData("a.tar.gz", ".gz")]
    [InlineData("noext", "")]
    [InlineData("dir.d/file", "")]
    [InlineData("trailing.", "")]
    [InlineData("x.12345678901234567", "")]
    [InlineData("x.1234567890123456", ".1234567890123456")]
    [InlineData("x.p\u00e9", "")]
    [InlineData("x.a b", "")]
    public void Only_plain_extensions_are_kept(string fileName, string extension)
    {
        Assert.Equal(extension, JobExecutor.SafeExtension(fileName));
    }

    [Fact]
    public void Job_directory_names_use_safe_ids_as_they_are_and_hash_the_rest()
    {
        Assert.Equal("j-01ABC-2", JobExecutor.JobDirectoryName(new("j-01ABC", 2)));
        Assert.Equal("..-1", JobExecutor.JobDirectoryName(new("..", 1)));
        Assert.Matches("^h-[0-9a-f]{32}-1$", JobExecutor.JobDirectoryName(new("../x", 1)));
        Assert.Matches("^h-[0-9a-f]{32}-1$", JobExecutor.JobDirectoryName(new("", 1)));
        Assert.Matches("^h-[0-9a-f]{32}-1$", JobExecutor.JobDirectoryName(new(new string('a', 129), 1)));
        Assert.NotEqual(JobExecutor.JobDirectoryName(new("a/b", 1)), JobExecutor.JobDirectoryName(new("a/c", 1)));
    }
}
