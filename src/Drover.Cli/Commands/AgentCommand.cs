using System.CommandLine;
using Drover.Agent;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Commands;

/// <summary><c>drover agent</c>: runs one agent until Ctrl-C; with <c>--handler</c> it also runs jobs. Exit codes: 0 stopped cleanly, 1 refused
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
        var handlerOption = new Option<string>("--handler")
        {
            Description = "Take jobs: the command run for each one, with {file} (the input file), {out} (where to write a result file), {job} and {attempt} replaced. Split like a shell (quotes), run without one; DROVER_* variables are set.",
        };
        var shellOption = new Option<bool>("--shell")
        {
            Description = "Run the --handler command with /bin/sh -c (pipes, redirections); placeholders are replaced by single-quoted values.",
        };
        var workdirOption = new Option<string>("--workdir")
        {
            Description = "Where job directories are made (default: $XDG_STATE_HOME/drover/agent-ID/work, else ~/.local/state/drover/agent-ID/work).",
        };
        var slotsOption = new Option<int?>("--slots")
        {
            Description = "How many jobs run at once, 1-65535 (default: the number of processors). Needs --handler.",
        };
        var logLevelOption = new Option<string>("--log-level")
        {
            Description = "trace, debug, info, warn, error or none.",
            DefaultValueFactory = _ => "info",
        };

        var command = new Command("agent", "Run an agent: connect to a hub, report status on the hub's schedule, reconnect with backoff; with --handler, run the jobs the hub sends. Ctrl-C stops it.")
        {
            hubOption,
            idOption,
            tokenOption,
            labelsOption,
            statusCommandOption,
            handlerOption,
            shellOption,
            workdirOption,
            slotsOption,
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
                if (!Drover.Agent.Internal.CommandLine.TrySplit(statusCommandText, out var argv, out var splitError))
                {
                    return Usage($"--status-command: {splitError}");
                }

                statusArgv = argv;
            }

            var handlerText = parseResult.GetValue(handlerOption);
            var slots = parseResult.GetValue(slotsOption);
            if (handlerText is null && (slots is not null || parseResult.GetValue(shellOption) || parseResult.GetValue(workdirOption) is not null))
            {
                return Usage("--slots, --shell and --workdir need --handler");
            }

            if (slots is < 1 or > ushort.MaxValue)
            {
                return Usage("--slots must be 1 to 65535");
            }

            ProcessJobHandler? handler = null;
            if (handlerText is not null)
            {
                try
                {
                    handler = new ProcessJobHandler(handlerText, parseResult.GetValue(shellOption));
                }
                catch (ArgumentException ex)
                {
                    return Usage($"--handler: {ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal)}");
                }
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
                JobHandler = handler,
            };
            if (slots is { } slotCount)
            {
                options = options with { JobSlots = (ushort)slotCount };
            }

            if (parseResult.GetValue(workdirOption) is { } workdir)
            {
                options = options with { WorkDirectory = workdir };
            }

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
