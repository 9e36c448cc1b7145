using System.Text.Json;
using System.Text.RegularExpressions;
using Drover.TestUtilities;

namespace Drover.Agent.Tests;

/// <summary>Keeps the job-run contract in docs/protocol.md ("Running a job: drover agent --handler") honest: its
/// environment table is <see cref="ProcessJobHandler.EnvironmentVariables"/>, its command examples are what
/// <see cref="ProcessJobHandler.BuildArgv"/> makes, and a real handler process gets exactly those variables.</summary>
public sealed partial class JobRunContractTests
{
    /// <summary>The context the doc's examples are written for: job j-42, attempt 1, work directory /w.</summary>
    private static readonly JobContext DocJob = new()
    {
        JobId = "j-42",
        Attempt = 1,
        FileName = "input.txt",
        FilePath = "/w/j-42-1/input.txt",
        OutPath = "/w/j-42-1/out",
        JobDirectory = "/w/j-42-1",
        Args = "-v",
        Timeout = TimeSpan.FromSeconds(30),
        AgentId = "edge-01",
        OutputTailBytes = 4096,
    };

    [Fact]
    public void The_documented_environment_table_is_the_handlers_table()
    {
        var documented = EnvRow().Matches(ProtocolDoc()).Select(m => (m.Groups[1].Value, m.Groups[2].Value.Trim())).ToArray();
        Assert.Equal(ProcessJobHandler.EnvironmentVariables.ToArray(), documented);
    }

    [Fact]
    public void The_handler_sets_exactly_the_variables_of_its_table_in_its_order()
    {
        Assert.Equal(
            ProcessJobHandler.EnvironmentVariables.Select(v => v.Name),
            ProcessJobHandler.BuildEnvironment(DocJob).Select(v => v.Name));
        Assert.Equal(8, ProcessJobHandler.EnvironmentVariables.Count);
    }

    [Fact]
    public void The_help_line_names_every_variable()
    {
        foreach (var (name, meaning) in ProcessJobHandler.EnvironmentVariables)
        {
            Assert.Contains($"{name} ({meaning})", ProcessJobHandler.EnvironmentHelp, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_documented_command_example_splits_and_substitutes_as_documented()
    {
        var rows = ExampleRow().Matches(ProtocolDoc());
        Assert.True(rows.Count >= 6, $"docs/protocol.md has {rows.Count} command examples, expected the table of 6");
        foreach (Match row in rows)
        {
            var (template, shell) = (row.Groups[1].Value, row.Groups[2].Value == "shell");
            var expected = JsonSerializer.Deserialize<string[]>(row.Groups[3].Value)!;
            var argv = new ProcessJobHandler(template, shell).BuildArgv(DocJob);
            Assert.True(expected.SequenceEqual(argv), $"{template} ({row.Groups[2].Value}): documented {row.Groups[3].Value}, built {JsonSerializer.Serialize(argv)}");
        }
    }

    [Fact]
    public async Task A_real_handler_runs_in_the_job_directory_with_empty_stdin_and_the_documented_variables()
    {
        var directory = Directory.CreateTempSubdirectory("drover-contract-").FullName;
        try
        {
            var job = DocJob with
            {
                JobId = "j-'42'",
                FilePath = Path.Combine(directory, "input.txt"),
                OutPath = Path.Combine(directory, "out"),
                JobDirectory = directory,
                Args = "a 'b c'",
            };
            // Only the table's names: the test's own environment may hold other DROVER_* settings, which a handler inherits.
            var names = string.Join("|", ProcessJobHandler.EnvironmentVariables.Select(v => v.Name));
            var handler = new ProcessJobHandler($"pwd; cat; env | grep -E '^({names})=' | LC_ALL=C sort; echo {{job}} > {{out}}", useShell: true);

            var result = await handler.RunAsync(job, CancellationToken.None);

            Assert.Equal(0, result.ExitCode);
            var lines = System.Text.Encoding.UTF8.GetString(result.StdoutTail.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(directory, lines[0]);
            var env = lines.Skip(1).ToArray();
            var expected = ProcessJobHandler.BuildEnvironment(job).Select(v => $"{v.Name}={v.Value}").Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(expected, env);
            Assert.Contains("DROVER_ARGS=a 'b c'", env);
            Assert.Contains("DROVER_ATTEMPT=1", env);
            Assert.Equal("j-'42'\n", await File.ReadAllTextAsync(job.OutPath));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string ProtocolDoc() => File.ReadAllText(TestPaths.RepositoryFile("docs", "protocol.md"));

    [GeneratedRegex(@"^\s*\|\s*`(DROVER_[A-Z_]+)`\s*\|([^|\n]+)\|\s*$", RegexOptions.Multiline)]
    private static partial Regex EnvRow();

    [GeneratedRegex(@"^\s*\|\s*`([^`\n]+)`\s*\|\s*(plain|shell)\s*\|\s*`(\[[^`\n]*\])`\s*\|\s*$", RegexOptions.Multiline)]
    private static partial Regex ExampleRow();
}
