using System.Text.RegularExpressions;
using Drover.Agent;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>`drover jobs` and `drover clients` as child processes whose output is a pipe: plain rows, one line per row,
/// full timestamps, nothing wrapped or cut whatever <c>COLUMNS</c> says, and no progress drawn on a piped stderr.</summary>
public sealed partial class TableOutputTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-cli-tables-").FullName;
    private readonly List<IAsyncDisposable> _owned = [];
    private HubFixture _hub = null!;

    public async Task InitializeAsync()
    {
        _hub = await HubFixture.StartAsync();
        _owned.Add(_hub);
        var agent = new DroverAgent(new AgentOptions
        {
            Hubs = [$"127.0.0.1:{_hub.AgentEndPoint.Port}"],
            AgentId = "rack-a3-worker-with-a-rather-long-identifier-0001",
            Trust = HubTrust.Insecure,
            IncludeSystemMetrics = false,
            Labels = new Dictionary<string, string> { ["rack"] = "a3", ["zone"] = "eu-west-with-a-long-name", ["role"] = "transcoder" },
        });
        _owned.Add(agent);
        _ = agent.RunAsync(CancellationToken.None);
        await HubFixture.WaitUntilAsync(() => agent.ReportsAcked >= 1, because: "the agent reports");
    }

    /// <summary>xunit v2 calls <see cref="IAsyncLifetime.DisposeAsync"/> (not IAsyncDisposable) on test classes.</summary>
    public async Task DisposeAsync()
    {
        // The agent first, then the hub.
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    [GeneratedRegex(@"^j-[0-9A-Z]{26} +queued +file-\d\.txt +- +0 +- +- +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")]
    private static partial Regex QueuedJobRow();

    [Theory]
    [InlineData(null)]
    [InlineData("40")]
    public async Task Piped_jobs_and_clients_print_one_unwrapped_line_per_row(string? columns)
    {
        var api = _hub.ApiUrl.ToString();
        var environment = columns is null ? null : new Dictionary<string, string> { ["COLUMNS"] = columns };
        var files = Enumerable.Range(1, 3).Select(i =>
        {
            var path = Path.Combine(_dir, $"file-{i}.txt");
            File.WriteAllText(path, new string('x', i));
            return path;
        }).ToArray();

        // Aimed at an agent that never comes: the jobs stay queued.
        var (sendExit, sent, sendError) = await DroverProcess.RunInAsync(null, environment, ["send", .. files, "--to", "agent:nobody", "--api", api]);
        Assert.True(sendExit == 0, $"send exited {sendExit}: {sendError}");
        Assert.Equal(3, sent.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain('\u001b', sendError);

        var (exit, output, error) = await DroverProcess.RunInAsync(null, environment, "jobs", "--state", "queued", "--api", api);
        Assert.True(exit == 0, $"jobs exited {exit}: {error}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ID +STATE +NAME +AGENT +ATTEMPT +EXIT +DURATION +SUBMITTED$", lines[0]);
        Assert.Equal(3, lines.Count(line => QueuedJobRow().IsMatch(line)));
        Assert.Equal("3 jobs", lines[^1]);
        Assert.Equal(5, lines.Length);
        Assert.DoesNotContain('│', output);
        Assert.DoesNotContain('\u001b', output);

        (exit, output, error) = await DroverProcess.RunInAsync(null, environment, "clients", "--api", api);
        Assert.True(exit == 0, $"clients exited {exit}: {error}");
        lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ID +STATE +LAST SEEN +JOBS +LABELS +STATUS$", lines[0]);
        Assert.Matches(@"^rack-a3-worker-with-a-rather-long-identifier-0001 +online +\d+s ago +- +rack=a3,zone=eu-west-with-a-long-name,role=transcoder +idle #\d+$", lines[1]);
        Assert.Equal("1 agents", lines[^1]);
        Assert.Equal(3, lines.Length);
    }
}
