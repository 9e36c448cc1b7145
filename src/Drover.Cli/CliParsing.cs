using System.Globalization;
using System.Net;
using Drover.Api;
using Microsoft.Extensions.Logging;

namespace Drover.Cli;

/// <summary>Parsers for the values our flags take; each returns a clear message instead of throwing.</summary>
internal static class CliParsing
{
    /// <summary>Parses "90", "90s", "500ms", "5m", "1h", "7d" (a bare number is seconds); see <see cref="DurationText"/>.</summary>
    public static bool TryParseDuration(string? text, out TimeSpan value, out string error)
    {
        error = $"'{text}' is not a duration; use {DurationText.Examples}";
        return DurationText.TryParse(text, out value);
    }

    /// <summary>Parses a size: "1MiB", "512KiB", "2GiB", "4096" or "4096B" (bytes); also "1MB"/"1KB" as the
    /// same binary units and "1M"/"1K"/"1G". Case-insensitive; fractions allowed ("1.5MiB").</summary>
    public static bool TryParseSize(string? text, out long bytes, out string error)
    {
        bytes = 0;
        error = $"'{text}' is not a size; use for example 4096, 512KiB, 1MiB or 1GiB";
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        var split = trimmed.Length;
        while (split > 0 && char.IsLetter(trimmed[split - 1]))
        {
            split--;
        }

        var multiplier = trimmed[split..].ToLowerInvariant() switch
        {
            "" or "b" => 1L,
            "k" or "kb" or "kib" => 1L << 10,
            "m" or "mb" or "mib" => 1L << 20,
            "g" or "gb" or "gib" => 1L << 30,
            _ => 0L,
        };
        if (multiplier == 0
            || !double.TryParse(trimmed[..split].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
            || amount < 0 || !double.IsFinite(amount) || amount * multiplier > long.MaxValue)
        {
            return false;
        }

        bytes = (long)Math.Round(amount * multiplier);
        return true;
    }

    /// <summary>Parses "host:port", "[v6]:port" or ":port"; host names resolve via DNS (localhost to loopback).</summary>
    public static bool TryParseEndPoint(string? text, out IPEndPoint endPoint, out string error)
    {
        endPoint = null!;
        error = $"'{text}' is not HOST:PORT (for example 0.0.0.0:7400 or 127.0.0.1:7401)";
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        // An IP literal with a port: "1.2.3.4:7400" or "[::1]:7400" (a bare address has no port).
        if (IPEndPoint.TryParse(text, out var parsed) && (text.StartsWith('[') || text.Count(c => c == ':') == 1))
        {
            endPoint = parsed;
            return true;
        }

        var colon = text.LastIndexOf(':');
        if (colon < 0 || !long.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return false;
        }

        if (port > 65535)
        {
            error = $"port {text[(colon + 1)..]} is out of range (0-65535)";
            return false;
        }

        var host = text[..colon];
        if (host.Length == 0)
        {
            endPoint = new IPEndPoint(IPAddress.Any, (int)port);
            return true;
        }

        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            endPoint = new IPEndPoint(IPAddress.Loopback, (int)port);
            return true;
        }

        try
        {
            var address = Dns.GetHostAddresses(host).FirstOrDefault();
            if (address is null)
            {
                error = $"host '{host}' has no address";
                return false;
            }

            endPoint = new IPEndPoint(address, (int)port);
            return true;
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            error = $"cannot resolve host '{host}': {ex.Message}";
            return false;
        }
    }

    /// <summary>Parses "k=v,k2=v2" (empty: no labels); rejects empty keys and repeated keys.</summary>
    public static bool TryParseLabels(string? text, out Dictionary<string, string> labels, out string error)
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

    /// <summary>Parses trace, debug, info, warn, error, critical or none.</summary>
    public static bool TryParseLogLevel(string? text, out LogLevel level)
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

    /// <summary>Writes "drover: message" to stderr and returns the usage-error exit code 2.</summary>
    public static int Fail(string message)
    {
        Console.Error.WriteLine($"drover: {message}");
        return 2;
    }
}
