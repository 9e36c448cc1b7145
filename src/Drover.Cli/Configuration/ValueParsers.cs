using System.Globalization;
using System.Net;
using Drover.Api;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Configuration;

/// <summary>Parses one setting's text; false with a message (which does not repeat the setting's name) when it does not parse.</summary>
internal delegate bool ValueParser<TValue>(string text, out TValue value, out string error);

/// <summary>The value types of settings: their parsers (over <see cref="CliParsing"/>) and how a default is shown.</summary>
internal static class ValueParsers
{
    public static bool Text(string text, out string value, out string error)
    {
        value = text;
        error = string.Empty;
        return true;
    }

    public static bool Int(string text, out int value, out string error)
    {
        error = $"'{text}' is not a whole number";
        return int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    public static bool Duration(string text, out TimeSpan value, out string error)
    {
        if (text.TrimStart().StartsWith('-'))
        {
            value = default;
            error = $"'{text}' is negative; a duration is 0 or more";
            return false;
        }

        return CliParsing.TryParseDuration(text, out value, out error);
    }

    public static bool Size(string text, out long value, out string error) => CliParsing.TryParseSize(text, out value, out error);

    /// <summary>A size that must fit an int (frame, file and result limits; the options check the range).</summary>
    public static bool IntSize(string text, out int value, out string error)
    {
        value = 0;
        if (!CliParsing.TryParseSize(text, out var parsed, out error))
        {
            return false;
        }

        if (parsed > int.MaxValue)
        {
            error = $"'{text}' is too large (at most 16MiB)";
            return false;
        }

        value = (int)parsed;
        return true;
    }

    public static bool EndPoint(string text, out IPEndPoint value, out string error) => CliParsing.TryParseEndPoint(text, out value, out error);

    /// <summary>An end point, or "off" for none.</summary>
    public static bool EndPointOrOff(string text, out IPEndPoint? value, out string error)
    {
        value = null;
        error = string.Empty;
        if (string.Equals(text.Trim(), "off", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var ok = CliParsing.TryParseEndPoint(text, out var parsed, out error);
        value = parsed;
        return ok;
    }

    public static bool Bool(string text, out bool value, out string error)
    {
        error = $"'{text}' is not true or false";
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "1" or "on":
                value = true;
                return true;
            case "false" or "no" or "0" or "off":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    public static bool LogLevel(string text, out LogLevel value, out string error)
    {
        error = $"'{text}' is not one of trace, debug, info, warn, error, none";
        return CliParsing.TryParseLogLevel(text.Trim(), out value);
    }

    public static bool LogFormat(string text, out LogFormat value, out string error)
    {
        error = $"'{text}' is not simple or json";
        return Enum.TryParse(text.Trim(), ignoreCase: true, out value) && Enum.IsDefined(value);
    }

    public static bool Labels(string text, out IReadOnlyDictionary<string, string> value, out string error)
    {
        var ok = CliParsing.TryParseLabels(text, out var labels, out error);
        value = labels;
        return ok;
    }

    /// <summary>"1GiB", "1MiB", "64KiB" when exact, else bytes.</summary>
    public static string FormatSize(long bytes) => bytes switch
    {
        0 => "0",
        _ when bytes % (1L << 30) == 0 => $"{bytes >> 30}GiB",
        _ when bytes % (1L << 20) == 0 => $"{bytes >> 20}MiB",
        _ when bytes % (1L << 10) == 0 => $"{bytes >> 10}KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };

    public static string FormatInt(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string FormatLogLevel(LogLevel level) => level switch
    {
        Microsoft.Extensions.Logging.LogLevel.Trace => "trace",
        Microsoft.Extensions.Logging.LogLevel.Debug => "debug",
        Microsoft.Extensions.Logging.LogLevel.Information => "info",
        Microsoft.Extensions.Logging.LogLevel.Warning => "warn",
        Microsoft.Extensions.Logging.LogLevel.Error => "error",
        Microsoft.Extensions.Logging.LogLevel.Critical => "critical",
        _ => "none",
    };
}

/// <summary>How log lines are written: <c>simple</c> (one line of text each) or <c>json</c> (one JSON object per line, for log shippers).</summary>
internal enum LogFormat
{
    Simple,
    Json,
}
