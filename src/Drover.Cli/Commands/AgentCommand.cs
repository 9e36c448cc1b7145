using System.CommandLine;
using System.Runtime.InteropServices;
using Drover.Agent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

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

            if (!TryParseLogLevel(parseResult.GetValue(logLevelOption), out var level))
            {
                return Usage("--log-level must be one of trace, debug, info, warn, error, none");
            }

            if (!TryParseLabels(parseResult.GetValue(labelsOption), out var labels, out var labelError))
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

            using var loggerFactory = LoggerFactory.Create(builder => builder
                .SetMinimumLevel(level)
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                }));

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

            // Ctrl-C and SIGTERM stop the agent cleanly (bye sent, exit 0) whether or not the invocation
            // configuration handles process termination itself.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

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

    /// <summary>Parses "k=v,k2=v2" (empty: no labels).</summary>
    internal static bool TryParseLabels(string? text, out Dictionary<string, string> labels, out string error)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        error = string.Empty;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        foreach (var pair in text.Split(','))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"'{pair}' is not key=value (expected k=v,k2=v2)";
                return false;
            }

            var key = pair[..eq].Trim();
            var value = pair[(eq + 1)..].Trim();
            if (key.Length == 0)
            {
                error = $"'{pair}' has an empty key";
                return false;
            }

            if (!labels.TryAdd(key, value))
            {
                error = $"label '{key}' is given twice";
                return false;
            }
        }

        return true;
    }

    internal static bool TryParseLogLevel(string? text, out LogLevel level)
    {
        level = text?.ToLowerInvariant() switch
        {
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            null or "info" or "information" => LogLevel.Information,
            "warn" or "warning" => LogLevel.Warning,
            "error" => LogLevel.Error,
            "critical" => LogLevel.Critical,
            "none" => LogLevel.None,
            _ => (LogLevel)(-1),
        };
        return level != (LogLevel)(-1);
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"drover agent: {message}");
        return ExitUsage;
    }
}
