using System.Globalization;
using System.Text;

namespace Drover.Protocol;

/// <summary>Makes a string that came from the other side of the connection (an agent id, labels, a version, a reason
/// text, a file name) safe to put into a log line: no character of it can end the line, forge another one, reorder
/// the text around it or ring the terminal. Every hub and agent log site that writes a peer's string goes through
/// <see cref="Escape(string?, int)"/>.</summary>
/// <remarks>
/// <para>Escaped, each as <c>\uXXXX</c> (four upper-case hex digits): the C0 controls U+0000-U+001F (NUL, ESC, CR,
/// LF, TAB, …), DEL U+007F, the C1 controls U+0080-U+009F, the line and paragraph separators U+2028 and U+2029, the
/// bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), and a surrogate that
/// is not half of a pair. A backslash is written <c>\\</c>, so an escape in the output always stands for an escaped
/// character, never for the text <c>\u0000</c> that a peer sent.</para>
/// <para>Length: the output holds at most <c>maxLength</c> characters of escaped text; when the value is longer, the
/// rest is cut (never inside an escape or a surrogate pair) and the marker <c>…(N more characters)</c> follows, N
/// counting the input characters left out.</para>
/// </remarks>
public static class LogText
{
    /// <summary>The default <c>maxLength</c>: more than any valid agent id (128), a job id (64) or a label.</summary>
    public const int DefaultMaxLength = 256;

    /// <summary>The <c>maxLength</c> for free texts that are worth reading whole (reasons, errors, up to 4,096
    /// characters from a Drover agent): the first 1,024 escaped characters.</summary>
    public const int LongTextMaxLength = 1024;

    /// <summary>The value, escaped and cut as the remarks say; the same instance when nothing needed either.
    /// Null gives the empty string.</summary>
    public static string Escape(string? value, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        if (value is null)
        {
            return string.Empty;
        }

        if (value.Length <= maxLength && !NeedsEscape(value))
        {
            return value;
        }

        var output = new StringBuilder(Math.Min(value.Length, maxLength) + 32);
        var i = 0;
        while (i < value.Length)
        {
            var c = value[i];
            var pair = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]);
            var width = pair ? 2 : IsEscaped(c) || char.IsSurrogate(c) ? 6 : c == '\\' ? 2 : 1;
            if (output.Length + width > maxLength)
            {
                break;
            }

            if (pair)
            {
                output.Append(c).Append(value[i + 1]);
                i += 2;
                continue;
            }

            if (width == 6)
            {
                output.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else if (c == '\\')
            {
                output.Append("\\\\");
            }
            else
            {
                output.Append(c);
            }

            i++;
        }

        if (i < value.Length)
        {
            output.Append("…(").Append((value.Length - i).ToString(CultureInfo.InvariantCulture)).Append(" more characters)");
        }

        return output.ToString();
    }

    /// <summary>True for a character <see cref="Escape(string?, int)"/> writes as <c>\uXXXX</c> wherever it stands
    /// (a surrogate is escaped only when it is not half of a pair).</summary>
    public static bool IsEscaped(char c) =>
        c < 0x20
        || c is >= '\u007F' and <= '\u009F'
        || c is '\u2028' or '\u2029'
        || IsBidiControl(c);

    /// <summary>The bidirectional formatting characters: ALM, LRM, RLM, the embeddings and overrides (LRE, RLE, PDF,
    /// LRO, RLO) and the isolates (LRI, RLI, FSI, PDI).</summary>
    private static bool IsBidiControl(char c) => c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    private static bool NeedsEscape(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\\' || IsEscaped(c))
            {
                return true;
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }
}
