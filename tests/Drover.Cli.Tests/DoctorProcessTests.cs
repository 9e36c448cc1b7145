using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>Runs the real built <c>drover</c> as a child process.</summary>
public sealed class DoctorProcessTests
{
    [Fact]
    public async Task Doctor_for_100_agents_exits_0()
    {
        var (exitCode, output, error) = await RunDroverAsync("doctor", "--agents", "100");

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{output}\n{error}");
        Assert.Contains("This hub process can hold about", output, StringComparison.Ordinal);
        Assert.Contains("100 agents fit.", output, StringComparison.Ordinal);
        Assert.Contains("nofile hard (ulimit -Hn)", output, StringComparison.Ordinal);
        Assert.Contains("net.core.somaxconn", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal); // no ANSI codes when redirected
    }

    [Fact]
    public async Task Doctor_on_a_low_limit_tree_exits_1_with_the_fixes()
    {
        using var proc = new FakeProc(openFiles: "1024 1024");
        var (exitCode, output, _) = await RunDroverAsync("doctor", "--agents", "10000", "--proc-root", proc.Root);

        Assert.Equal(1, exitCode);
        Assert.Contains("* hard nofile 11264", output, StringComparison.Ordinal);
        Assert.Contains("LimitNOFILE=11264", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_with_a_non_numeric_agents_value_fails_clearly()
    {
        var (exitCode, output, error) = await RunDroverAsync("doctor", "--agents", "abc");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("abc", error, StringComparison.Ordinal);
        Assert.Contains("--agents", error, StringComparison.Ordinal);
        Assert.DoesNotContain("can hold about", output, StringComparison.Ordinal);
    }

    private static Task<(int ExitCode, string Output, string Error)> RunDroverAsync(params string[] args) => DroverProcess.RunAsync(args);
}
