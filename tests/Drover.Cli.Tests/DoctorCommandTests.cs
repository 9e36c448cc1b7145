using System.CommandLine;
using System.Text.Json;
using Drover.Cli.Commands;
using Drover.Hub.Os;
using Spectre.Console;

namespace Drover.Cli.Tests;

public sealed class DoctorCommandTests
{
    [Fact]
    public void Fleet_that_fits_exits_0_with_no_fixes()
    {
        using var proc = new FakeProc(openFiles: "1024                 524288");
        var (exitCode, output) = RunDoctor(proc, 10_000);

        Assert.Equal(0, exitCode);
        Assert.Contains("This hub process can hold about 523,776 agents", output, StringComparison.Ordinal);
        Assert.Contains("10,000 agents fit.", output, StringComparison.Ordinal);
        Assert.Contains("hub raises it to hard", output, StringComparison.Ordinal);
        Assert.Contains("unlimited", output, StringComparison.Ordinal); // fs.file-max = LONG_MAX
        Assert.Contains("Until the hub raises its soft limit at start: 512.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("TOO LOW", output, StringComparison.Ordinal);
        Assert.DoesNotContain("nofile", output.Split("agents fit.")[1], StringComparison.Ordinal);
        Assert.DoesNotContain("sysctl -w", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Low_nofile_exits_1_and_prints_every_fix()
    {
        using var proc = new FakeProc(openFiles: "1024                 1024", fileMax: "8192", nrOpen: "1024", somaxconn: "128", synBacklog: "256");
        var (exitCode, output) = RunDoctor(proc, 10_000);

        Assert.Equal(1, exitCode);
        Assert.Contains("This hub process can hold about 512 agents", output, StringComparison.Ordinal);
        Assert.Contains("10,000 agents do NOT fit", output, StringComparison.Ordinal);
        Assert.Contains("TOO LOW", output, StringComparison.Ordinal);

        // 10,000 agents + 512 reserved = 10,512 descriptors, rounded up to 11,264.
        Assert.Contains("/etc/security/limits.conf", output, StringComparison.Ordinal);
        Assert.Contains("* soft nofile 11264", output, StringComparison.Ordinal);
        Assert.Contains("* hard nofile 11264", output, StringComparison.Ordinal);
        Assert.Contains("[Service]", output, StringComparison.Ordinal);
        Assert.Contains("LimitNOFILE=11264", output, StringComparison.Ordinal);
        Assert.Contains("ulimit -n 11264", output, StringComparison.Ordinal);
        Assert.Contains("Only root can raise a hard limit, and never above fs.nr_open (1,024)", output, StringComparison.Ordinal);

        Assert.Contains("sysctl -w fs.nr_open=11264", output, StringComparison.Ordinal);
        Assert.Contains("sysctl -w fs.file-max=22528", output, StringComparison.Ordinal);
        Assert.Contains("sysctl -w net.core.somaxconn=4096", output, StringComparison.Ordinal);
        Assert.Contains("sysctl -w net.ipv4.tcp_max_syn_backlog=4096", output, StringComparison.Ordinal);
        Assert.Contains("/etc/sysctl.d/99-drover.conf", output, StringComparison.Ordinal);
        Assert.Contains("    fs.nr_open = 11264", output, StringComparison.Ordinal);
        Assert.Contains("    net.core.somaxconn = 4096", output, StringComparison.Ordinal);
    }

    [Fact]
    public void File_max_caps_the_capacity()
    {
        using var proc = new FakeProc(openFiles: "1048576 1048576", fileMax: "5000");
        var (exitCode, output) = RunDoctor(proc, 10_000);

        Assert.Equal(1, exitCode);
        Assert.Contains("can hold about 4,488 agents", output, StringComparison.Ordinal);
        Assert.Contains("sysctl -w fs.file-max=22528", output, StringComparison.Ordinal);
        Assert.DoesNotContain("nofile 11264", output, StringComparison.Ordinal); // open files are fine
    }

    [Fact]
    public void Small_backlogs_are_advice_for_large_fleets_and_fine_for_small_ones()
    {
        using var proc = new FakeProc(openFiles: "65536 65536", somaxconn: "128", synBacklog: "512");

        var (large, largeOutput) = RunDoctor(proc, 1_000);
        Assert.Equal(0, large); // advice does not change the verdict
        Assert.Contains("LOW (advice)", largeOutput, StringComparison.Ordinal);
        Assert.Contains("Recommended kernel settings", largeOutput, StringComparison.Ordinal);
        Assert.Contains("sysctl -w net.core.somaxconn=4096", largeOutput, StringComparison.Ordinal);
        Assert.Contains("net.ipv4.tcp_max_syn_backlog = 4096", largeOutput, StringComparison.Ordinal);

        var (small, smallOutput) = RunDoctor(proc, 999);
        Assert.Equal(0, small);
        Assert.DoesNotContain("LOW (advice)", smallOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("sysctl -w", smallOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Fleet_larger_than_the_port_range_gets_the_bench_advice()
    {
        using var proc = new FakeProc(openFiles: "1048576 1048576", portRange: "32768 60999");
        var (_, output) = RunDoctor(proc, 100_000);
        Assert.Contains("at most 28,232 connections", output, StringComparison.Ordinal);
        Assert.Contains("use 4 source addresses", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_limits_exit_1_and_say_why()
    {
        using var proc = new FakeProc(openFiles: null);
        var (exitCode, output) = RunDoctor(proc, 10);
        Assert.Equal(1, exitCode);
        Assert.Contains("unknown number of agents", output, StringComparison.Ordinal);
        Assert.Contains("not found", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_output_carries_the_verdict_and_the_fixes()
    {
        using var proc = new FakeProc(openFiles: "1024 1024");
        var (exitCode, output) = RunDoctor(proc, 10_000, json: true);

        Assert.Equal(1, exitCode);
        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal(10_000, root.GetProperty("agents").GetInt32());
        Assert.Equal(10_512UL, root.GetProperty("descriptorsNeeded").GetUInt64());
        Assert.Equal(512UL, root.GetProperty("agentCapacity").GetUInt64());
        Assert.False(root.GetProperty("fits").GetBoolean());
        var hard = root.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "nofile hard (ulimit -Hn)");
        Assert.Equal("TooLow", hard.GetProperty("status").GetString());
        Assert.Equal(1024UL, hard.GetProperty("current").GetUInt64());
        Assert.Contains(root.GetProperty("fixes").EnumerateArray(), f => f.GetString()!.Contains("LimitNOFILE=11264", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("0", "--agents must be 1 or more")]
    [InlineData("-5", "--agents must be 1 or more")]
    public void Bad_agents_value_is_a_parse_error(string value, string message)
    {
        var root = new RootCommand { DoctorCommand.Create() };
        var parse = root.Parse(["doctor", "--agents", value]);
        Assert.NotEmpty(parse.Errors);
        Assert.Contains(parse.Errors, e => e.Message.Contains(message, StringComparison.Ordinal));

        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
        Assert.NotEqual(0, exitCode);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Agents_defaults_to_ten_thousand_and_proc_root_is_hidden()
    {
        var command = DoctorCommand.Create();
        var agents = command.Options.Single(o => o.Name == "--agents");
        Assert.Equal(10_000, new RootCommand { command }.Parse(["doctor"]).GetValue<int>("--agents"));
        Assert.False(agents.Hidden);
        Assert.True(command.Options.Single(o => o.Name == "--proc-root").Hidden);
        Assert.Contains(command.Options, o => o.Name == "--json");
    }

    internal static (int ExitCode, string Output) RunDoctor(FakeProc proc, int agents, bool json = false)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 120;
        var exitCode = DoctorCommand.Run(new SystemLimits(proc.Root), agents, json, console);
        return (exitCode, writer.ToString());
    }
}
