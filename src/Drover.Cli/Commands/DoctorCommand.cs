using System.CommandLine;
using System.Text.Json;
using Drover.Hub.Os;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover doctor [--agents N] [--json]</c>: checks the OS limits that decide how many agents
/// one hub process can hold, and prints the exact fix for each one that is too low.
/// Exit code 0 when N agents fit, 1 when they do not (or the limits cannot be read).</summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var agents = new Option<int>("--agents")
        {
            Description = "The number of agents one hub process should hold",
            DefaultValueFactory = _ => 10_000,
        };
        agents.Validators.Add(result =>
        {
            // Only a number that parsed: a non-number already has the parser's own error.
            if (result.Tokens is [var token] && int.TryParse(token.Value, out var value) && value < 1)
            {
                result.AddError("--agents must be 1 or more.");
            }
        });
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var procRoot = new Option<string>("--proc-root")
        {
            Description = "Read the limits from this folder instead of /proc (for tests)",
            DefaultValueFactory = _ => "/proc",
            Hidden = true,
        };

        var command = new Command("doctor", "Check the OS limits (open files, fs.file-max, somaxconn, ...) for N agents and show how to raise them")
        {
            agents,
            json,
            procRoot,
        };
        command.SetAction((parseResult, cancellationToken) =>
        {
            var console = AnsiConsole.Console;
            var limits = new SystemLimits(parseResult.GetValue(procRoot) ?? "/proc");
            return Task.FromResult(Run(limits, parseResult.GetValue(agents), parseResult.GetValue(json), console));
        });
        return command;
    }

    /// <summary>Writes the report for <paramref name="agents"/> agents and returns the exit code.</summary>
    internal static int Run(SystemLimits limits, int agents, bool json, IAnsiConsole console)
    {
        var report = DoctorReport.Build(limits, agents);
        var output = console.Profile.Out.Writer;
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, DoctorJsonContext.Default.DoctorReport));
            return report.Fits ? 0 : 1;
        }

        var table = new CliTable("Limit", "Current", $"Needed for {DoctorReport.N(agents)}", "Status", "Note").RightAligned(1).RightAligned(2).Wrap(4);
        foreach (var check in report.Checks)
        {
            table.AddRow(
                check.Name,
                check.CurrentText,
                check.Needed is { } needed ? DoctorReport.N(needed) : "-",
                new CliCell(DoctorReport.StatusText(check.Status), StatusStyle(check.Status)),
                check.Note ?? "-");
        }

        table.Write(console);
        output.WriteLine(report.CapacitySentence());
        output.WriteLine(report.Verdict());
        if (report.Fixes.Count > 0)
        {
            output.WriteLine();
            foreach (var line in report.Fixes)
            {
                output.WriteLine(line);
            }
        }

        if (report.Notes.Count > 0)
        {
            output.WriteLine();
            foreach (var line in report.Notes)
            {
                output.WriteLine(line);
            }
        }

        output.Flush();
        return report.Fits ? 0 : 1;
    }

    private static string StatusStyle(LimitStatus status) => status switch
    {
        LimitStatus.Ok => "green",
        LimitStatus.TooLow => "red bold",
        LimitStatus.Low or LimitStatus.Unknown => "yellow",
        _ => "grey",
    };
}
