using System.Globalization;

namespace Drover.Api;

/// <summary>Durations as people type them: "250ms", "30s", "5m", "1h", "7d", or a bare number of seconds.
/// Shared by the HTTP API (the <c>timeout</c> parameter) and the CLI's flags.</summary>
public static class DurationText
{
    /// <summary>What to show when a text does not parse.</summary>
    public const string Examples = "for example 250ms, 30s, 5m, 1h or 7d (a bare number is seconds)";

    /// <summary>Parses a non-negative duration: a number (decimals allowed, invariant culture) followed by
    /// <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c> or <c>d</c>, or by nothing (seconds). Surrounding white space
    /// is ignored. False for anything else, a negative or non-finite number, or one beyond
    /// <see cref="TimeSpan.MaxValue"/>.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        var (number, unit) = trimmed.EndsWith("ms", StringComparison.Ordinal) ? (trimmed[..^2], 1.0)
            : trimmed.EndsWith('s') ? (trimmed[..^1], 1_000.0)
            : trimmed.EndsWith('m') ? (trimmed[..^1], 60_000.0)
            : trimmed.EndsWith('h') ? (trimmed[..^1], 3_600_000.0)
            : trimmed.EndsWith('d') ? (trimmed[..^1], 86_400_000.0)
            : (trimmed, 1_000.0);
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) || !double.IsFinite(amount))
        {
            return false;
        }

        var milliseconds = amount * unit;
        if (milliseconds >= TimeSpan.MaxValue.TotalMilliseconds)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(milliseconds);
        return true;
    }

    /// <summary>The shortest exact text <see cref="TryParse"/> reads back as <paramref name="value"/>
    /// when it is a whole number of milliseconds: "250ms", "30s", "5m", "1h", "2d"; otherwise "1.5s" style seconds.</summary>
    public static string Format(TimeSpan value)
    {
        var ms = value.Ticks / TimeSpan.TicksPerMillisecond;
        if (value.Ticks % TimeSpan.TicksPerMillisecond != 0 || ms < 0)
        {
            return value.TotalSeconds.ToString("0.#######", CultureInfo.InvariantCulture) + "s";
        }

        return ms switch
        {
            0 => "0s",
            _ when ms % 86_400_000 == 0 => $"{ms / 86_400_000}d",
            _ when ms % 3_600_000 == 0 => $"{ms / 3_600_000}h",
            _ when ms % 60_000 == 0 => $"{ms / 60_000}m",
            _ when ms % 1_000 == 0 => $"{ms / 1_000}s",
            _ => $"{ms}ms",
        };
    }
}
