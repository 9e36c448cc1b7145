using System.Globalization;

namespace Drover.Api;

/// <summary>Byte sizes as people type them: "4KiB", "512KiB", "1MiB", "16MiB", "2GiB", or a plain number
/// of bytes (optionally with "B"). Binary units only: 1 KiB = 1,024 bytes. Shared by the HTTP API's
/// messages and the CLI's flags.</summary>
public static class SizeText
{
    /// <summary>What to show when a text does not parse.</summary>
    public const string Examples = "for example 4KiB, 512KiB, 1MiB, 16MiB or a number of bytes";

    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10),
        ("MiB", 1L << 20),
        ("GiB", 1L << 30),
        ("TiB", 1L << 40),
        ("B", 1L),
    ];

    /// <summary>Parses a non-negative size: a number (decimals allowed with a unit, invariant culture)
    /// followed by <c>KiB</c>, <c>MiB</c>, <c>GiB</c>, <c>TiB</c> (case-insensitive), <c>B</c> or nothing
    /// (bytes). White space around the text and between number and unit is ignored. The result must be a
    /// whole number of bytes. False for anything else: negative, fractional bytes, decimal units (KB, MB),
    /// or more than <see cref="long.MaxValue"/>.</summary>
    public static bool TryParse(string? text, out long value)
    {
        value = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.AsSpan().Trim();
        var factor = 1L;
        foreach (var (suffix, unitFactor) in Units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                trimmed = trimmed[..^suffix.Length].TrimEnd();
                factor = unitFactor;
                break;
            }
        }

        if (trimmed.IsEmpty || !decimal.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        decimal bytes;
        try
        {
            bytes = amount * factor;
        }
        catch (OverflowException)
        {
            return false;
        }

        if (bytes != decimal.Truncate(bytes) || bytes > long.MaxValue)
        {
            return false;
        }

        value = (long)bytes;
        return true;
    }

    /// <summary>"1 MiB", "512 KiB", "1.5 MiB", "100 bytes": the largest binary unit the size reaches,
    /// with up to two decimals (exact sizes show no decimals).</summary>
    public static string Format(long bytes)
    {
        for (var i = Units.Length - 2; i >= 0; i--)
        {
            var (suffix, factor) = Units[i];
            if (Math.Abs(bytes) >= factor)
            {
                return ((decimal)bytes / factor).ToString("0.##", CultureInfo.InvariantCulture) + " " + suffix;
            }
        }

        return bytes == 1 ? "1 byte" : bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
    }
}
