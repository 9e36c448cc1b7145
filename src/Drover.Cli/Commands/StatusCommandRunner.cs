using System.Diagnostics;
using System.Text.Json;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Commands;

/// <summary>Runs the <c>--status-command</c> before each report and turns its stdout JSON object into
/// status fields: integers become Int, other numbers Float, then bool, string and null as themselves;
/// nested objects and arrays are sent as their JSON text. A failure (cannot start, non-zero exit, timeout,
/// not a JSON object) is logged as a warning once per distinct error, and the report goes out without
/// the command's fields.</summary>
internal sealed class StatusCommandRunner
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private const int MaxOutputChars = 256 * 1024;
    private const int MaxRememberedErrors = 64;

    private static readonly IReadOnlyDictionary<string, FieldValue> NoFields = new Dictionary<string, FieldValue>();

    private readonly string[] _argv;
    private readonly ILogger _logger;
    private readonly HashSet<string> _reportedErrors = new(StringComparer.Ordinal);

    public StatusCommandRunner(string[] argv, ILogger logger)
    {
        _argv = argv;
        _logger = logger;
    }

    public async ValueTask<IReadOnlyDictionary<string, FieldValue>> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            var stdout = await RunProcessAsync(cancellationToken);
            return ParseFields(stdout);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            var message = ex.Message;
            if (_reportedErrors.Count < MaxRememberedErrors && _reportedErrors.Add(message))
            {
                Log.StatusCommandFailed(_logger, string.Join(' ', _argv), message);
            }

            return NoFields;
        }
    }

    /// <summary>Converts a JSON object's members into fields (throws <see cref="FormatException"/> otherwise).</summary>
    internal static Dictionary<string, FieldValue> ParseFields(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"stdout is not JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"stdout is a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object");
            }

            var fields = new Dictionary<string, FieldValue>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                fields[property.Name] = FieldJson.ReadValue(property.Value);
            }

            return fields;
        }
    }

    private async Task<string> RunProcessAsync(CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(_argv[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in _argv.AsSpan(1))
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"could not start '{_argv[0]}'");
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(Timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var stdoutTask = process.StandardOutput.ReadToEndAsync(linked.Token);
        var stderrTask = process.StandardError.ReadToEndAsync(linked.Token);
        try
        {
            await process.WaitForExitAsync(linked.Token);
            var stdout = await stdoutTask;
            var stderr = await stderrTask;
            if (process.ExitCode != 0)
            {
                var firstLine = stderr.Split('\n', 2)[0].Trim();
                throw new InvalidOperationException($"exited with code {process.ExitCode}{(firstLine.Length > 0 ? ": " + firstLine : string.Empty)}");
            }

            if (stdout.Length > MaxOutputChars)
            {
                throw new InvalidOperationException($"printed more than {MaxOutputChars} characters");
            }

            return stdout;
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new TimeoutException($"did not finish within {Timeout.TotalSeconds:0} s");
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
