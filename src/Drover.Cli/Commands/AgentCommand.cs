using System.CommandLine;
using Drover.Agent;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Commands;

/// <summary><c>drover agent</c>: runs one agent until Ctrl-C. Exit codes: 0 stopped cleanly, 1 refused
/// for good by the hub (bad token, invalid id, no common protocol version), 2 wrong flags.</summary>
internal static class AgentCommand
{
    private const int ExitRefused = 1;
    private const int ExitUsage = 2;

    public static Command Create()
    {
        var hubOption = new Option<string[]>("--hub")
        {
            Description = "Required: a hub to connect to, as HOST:PORT ([IPv6]:PORT). Repeat for several hubs; the agent picks one by its id and fails over to the others.",
            // Checked in the action rather than by the parser, so that a missing hub is a one-line error with exit code 2.
            Required = false,
            AllowMultipleArgumentsPerToken = false,
        };
        var idOption = new Option<string>("--id")
        {
            Description = "The agent id: 1-128 characters of A-Z a-z 0-9 . _ : @ - (default: the machine name).",
        };
        var tokenOption = new Option<string>("--token")
        {
            Description = "The credential sent to the hub (default: the DROVER_TOKEN environment variable, else empty).",
        };
        var labelsOption = new Option<string>("--labels")
        {
            Description = "Labels sent to the hub, as key=value pairs separated by commas: zone=eu,role=web.",
        };
        var statusCommandOption = new Option<string>("--status-command")
        {
            Description = "A command run before each report (no shell; simple quoting works, 5 s timeout) whose stdout JSON object is merged into the report's fields.",
        };
        var logLevelOption = new Option<string>("--log-level")
        {
            Description = "trace, debug, info, warn, error or none.",
            DefaultValueFactory = _ => "info",
        };

        var command = new Command("agent", "Run an agent: connect to a hub, report status on the hub's schedule, reconnect with backoff. Ctrl-C stops it.")
        {
            hubOption,
            idOption,
            tokenOption,
            labelsOption,
            statusCommandOption,
            logLevelOption,
        };

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            if (parseResult.GetValue(hubOption) is not { Length: > 0 })
            {
                return Usage("--hub HOST:PORT is required (repeat it for several hubs)");
            }

            if (!CliParsing.TryParseLogLevel(parseResult.GetValue(logLevelOption), out var level))
            {
                return Usage("--log-level must be one of trace, debug, info, warn, error, none");
            }

            if (!CliParsing.TryParseLabels(parseResult.GetValue(labelsOption), out var labels, out var labelError))
            {
                return Usage($"--labels: {labelError}");
            }

            string[]? statusArgv = null;
            if (parseResult.GetValue(statusCommandOption) is { } statusCommandText)
            {
                if (!CommandLineSplitter.TrySplit(statusCommandText, out var argv, out var splitError))
                {
                    return Usage($"--status-command: {splitError}");
                }

                statusArgv = argv;
            }

            using var loggerFactory = ConsoleLogging.Create(level);

            var statusCommand = statusArgv is null
                ? null
                : new StatusCommandRunner(statusArgv, loggerFactory.CreateLogger("Drover.Cli.StatusCommand"));

            var options = new AgentOptions
            {
                Hubs = parseResult.GetValue(hubOption) ?? [],
                AgentId = parseResult.GetValue(idOption) ?? Environment.MachineName,
                Token = parseResult.GetValue(tokenOption) ?? Environment.GetEnvironmentVariable("DROVER_TOKEN") ?? string.Empty,
                Labels = labels,
                StatusProvider = statusCommand is null ? null : statusCommand.RunAsync,
                LoggerFactory = loggerFactory,
            };

            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                return Usage(ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal));
            }

            // Ctrl-C and SIGTERM stop the agent cleanly: bye sent, exit 0.
            using var stop = StopSignal.Create(cancellationToken);

            await using var agent = new DroverAgent(options);
            try
            {
                await agent.RunAsync(stop.Token);
                return 0;
            }
            catch (AgentRefusedException ex)
            {
                await Console.Error.WriteLineAsync($"drover agent: {ex.Message}");
                return ExitRefused;
            }
        });
        return command;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"drover agent: {message}");
        return ExitUsage;
    }
}
