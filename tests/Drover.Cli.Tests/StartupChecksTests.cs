using System.Globalization;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>What `drover serve` refuses at start, and how it stops: real child processes. A refusal is one line (no
/// stack trace) and exit code 1; SIGTERM and SIGINT both stop a hub cleanly with exit code 0.</summary>
public sealed class StartupChecksTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-startup-").FullName;
    private DroverProcess? _first;
    private string _agentAddress = string.Empty;
    private string _httpAddress = string.Empty;

    private string FirstData => Path.Combine(_dir, "first");

    /// <summary>Starts the first hub on free ports and reads which it got.</summary>
    public async Task InitializeAsync()
    {
        _first = DroverProcess.Start("serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", FirstData);
        var listening = await _first.WaitForLineAsync(@"listening for agents on (127\.0\.0\.1:\d+); HTTP API on https?://(127\.0\.0\.1:\d+)/");
        _agentAddress = listening.Groups[1].Value;
        _httpAddress = listening.Groups[2].Value;
    }

    public async Task DisposeAsync()
    {
        await _first!.DisposeAsync();
        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    [Fact]
    public async Task A_second_hub_on_the_same_agent_port_refuses_to_start()
    {
        var (exitCode, output, error) = await DroverProcess.RunAsync("serve", "--listen", _agentAddress, "--http", "off", "--data", Path.Combine(_dir, "second"));

        Assert.Equal(1, exitCode);
        AssertOneLineRefusal(output + error, $"cannot listen for agents on {_agentAddress}: the address is in use");
    }

    [Fact]
    public async Task A_second_hub_on_the_same_HTTP_port_refuses_to_start_in_one_line()
    {
        var (exitCode, output, error) = await DroverProcess.RunAsync("serve", "--listen", "127.0.0.1:0", "--http", _httpAddress, "--data", Path.Combine(_dir, "second"));

        Assert.Equal(1, exitCode);
        AssertOneLineRefusal(output + error, $"Failed to bind to address https://{_httpAddress}: address already in use");
    }

    [Fact]
    public async Task A_second_hub_on_the_same_data_directory_refuses_to_start_and_names_the_owner()
    {
        var (exitCode, output, error) = await DroverProcess.RunAsync("serve", "--listen", "127.0.0.1:0", "--http", "off", "--data", FirstData);

        Assert.Equal(1, exitCode);
        AssertOneLineRefusal(output + error, $"is in use by another hub (pid {_first!.Id.ToString(CultureInfo.InvariantCulture)}); one hub per data directory");
    }

    [Fact]
    public async Task A_demo_on_a_data_directory_in_use_refuses_to_start_and_names_the_owner()
    {
        var (exitCode, output, error) = await DroverProcess.RunAsync("demo", "--agents", "1", "--http", "127.0.0.1:0", "--data", FirstData);

        Assert.Equal(1, exitCode);
        AssertOneLineRefusal(output + error, $"is in use by another hub (pid {_first!.Id.ToString(CultureInfo.InvariantCulture)}); one hub per data directory");
    }

    [Fact]
    public async Task A_data_directory_that_cannot_be_made_is_one_line_with_no_second_error()
    {
        // Under a regular file: refused even for root (the tests run as root in CI, where chmod would not stop it).
        var file = Path.Combine(_dir, "a-file");
        await File.WriteAllTextAsync(file, "not a directory");

        var (exitCode, output, error) = await DroverProcess.RunAsync("serve", "--listen", "127.0.0.1:0", "--http", "off", "--data", Path.Combine(file, "data"));

        Assert.Equal(1, exitCode);
        AssertOneLineRefusal(output + error, "Cannot create the data directory");
        Assert.DoesNotContain("not initialized", output + error, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_lock_dies_with_the_process_so_a_hub_killed_with_9_is_restarted_on_its_data_at_once()
    {
        _first!.KillHard();
        await _first.WaitForExitAsync();

        await using var restarted = DroverProcess.Start("serve", "--listen", "127.0.0.1:0", "--http", "off", "--data", FirstData);
        await restarted.WaitForLineAsync("listening for agents on");
        restarted.Terminate();
        Assert.Equal(0, await restarted.WaitForExitAsync());
    }

    [Fact]
    public async Task SIGTERM_stops_the_hub_cleanly()
    {
        _first!.Terminate();

        Assert.Equal(0, await _first.WaitForExitAsync());
        Assert.Contains("Stopping: saying bye to every agent and flushing the store", _first.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGINT_stops_the_hub_cleanly()
    {
        _first!.Interrupt();

        Assert.Equal(0, await _first.WaitForExitAsync());
        Assert.Contains("Stopping: saying bye to every agent and flushing the store", _first.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hub_whose_SIGINT_is_ignored_as_in_a_background_job_still_stops_on_SIGTERM()
    {
        await using var background = DroverProcess.StartWithSigintIgnored("serve", "--listen", "127.0.0.1:0", "--http", "off", "--data", Path.Combine(_dir, "background"));
        await background.WaitForLineAsync("listening for agents on");

        background.Interrupt();
        background.Terminate();

        Assert.Equal(0, await background.WaitForExitAsync());
        Assert.Contains("Stopping: saying bye to every agent and flushing the store", background.Output, StringComparison.Ordinal);
    }

    /// <summary>The refusal is the only line (no info lines of the start before it), a critical one with
    /// <paramref name="expected"/> in it, and nothing looks like a stack trace.</summary>
    private static void AssertOneLineRefusal(string output, string expected)
    {
        var refusal = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("Hub could not start", refusal, StringComparison.Ordinal);
        Assert.Contains(expected, refusal, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
    }
}
