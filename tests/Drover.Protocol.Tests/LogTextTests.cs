using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Drover.Protocol.Tests;

/// <summary><see cref="LogText.Escape(string?, int)"/>: what a peer sends can never put a control character into a log
/// line, long values are cut with a marker, and ordinary text goes through untouched.</summary>
public sealed class LogTextTests
{
    /// <summary>Any UTF-16 code unit, weighted towards the ones that must be escaped: C0, DEL, C1, the separators,
    /// the bidi controls, lone surrogates, the backslash; plus ordinary text and whole surrogate pairs.</summary>
    private static Gen<string> Unit => Gen.Frequency(
        (6, Gen.Choose(0x20, 0x7E).Select(c => ((char)c).ToString())),
        (3, Gen.Choose(0x00, 0x1F).Select(c => ((char)c).ToString())),
        (2, Gen.Choose(0x7F, 0x9F).Select(c => ((char)c).ToString())),
        (2, Gen.Elements("\u2028", "\u2029", "\u061C", "\u200E", "\u200F", "\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067", "\u2068", "\u2069", "\\", "\uFEFF")),
        (2, Gen.Choose(0xD800, 0xDFFF).Select(c => ((char)c).ToString())),
        (2, Gen.Choose(0xA0, 0xFFFF).Select(c => ((char)c).ToString())),
        (1, Gen.Choose(0x10000, 0x10FFFF).Select(char.ConvertFromUtf32)));

    private static Arbitrary<(string Value, int Max)> Inputs => Gen.Sized(size => Gen.Choose(0, Math.Max(size, 1) * 4))
        .SelectMany(n => Gen.ArrayOf(Unit, n))
        .Select(parts => string.Concat(parts))
        .SelectMany(value => Gen.Choose(0, 300).Select(max => (value, max)))
        .ToArbitrary();

    [Property(MaxTest = 500)]
    public Property The_output_never_holds_a_control_character_or_a_lone_surrogate() => Prop.ForAll(Inputs, input =>
    {
        var output = LogText.Escape(input.Value, input.Max);
        for (var i = 0; i < output.Length; i++)
        {
            var c = output[i];
            if (LogText.IsEscaped(c))
            {
                return false;
            }

            if (char.IsHighSurrogate(c) && i + 1 < output.Length && char.IsLowSurrogate(output[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
        }

        return true;
    });

    [Property(MaxTest = 500)]
    public Property The_escaped_text_fits_the_limit_and_a_cut_says_how_much_is_left_out() => Prop.ForAll(Inputs, input =>
    {
        var output = LogText.Escape(input.Value, input.Max);
        var marker = output.LastIndexOf("…(", StringComparison.Ordinal);
        if (marker < 0 || !output.EndsWith(" more characters)", StringComparison.Ordinal))
        {
            // Not cut: everything is there, escaped.
            return output.Length <= input.Max && output.Length >= input.Value.Length;
        }

        var left = int.Parse(output[(marker + 2)..^" more characters)".Length], System.Globalization.CultureInfo.InvariantCulture);
        return marker <= input.Max && left > 0 && left <= input.Value.Length;
    });

    [Property(MaxTest = 300)]
    public Property Ordinary_text_within_the_limit_is_returned_as_it_is() => Prop.ForAll(
        Gen.ArrayOf(Gen.Choose(0x20, 0x7E).Where(c => c != '\\').Select(c => (char)c)).Select(chars => new string(chars)).ToArbitrary(),
        value => ReferenceEquals(value, LogText.Escape(value, Math.Max(value.Length, 1))));

    [Theory]
    [InlineData("bad\0id\u001b[31m", "bad\\u0000id\\u001B[31m")]
    [InlineData("line\r\nforged: INFO all good", "line\\u000D\\u000Aforged: INFO all good")]
    [InlineData("del\u007f c1\u0085 nbsp\u00a0", "del\\u007F c1\\u0085 nbsp\u00a0")]
    [InlineData("sep\u2028par\u2029", "sep\\u2028par\\u2029")]
    [InlineData("evil\u202Etxt.exe\u2066x\u2069", "evil\\u202Etxt.exe\\u2066x\\u2069")]
    [InlineData("C:\\temp\\u0000", "C:\\\\temp\\\\u0000")]
    [InlineData("café 😀 edge-01", "café 😀 edge-01")]
    public void Examples(string value, string expected) => Assert.Equal(expected, LogText.Escape(value));

    [Fact]
    public void A_lone_surrogate_is_escaped_and_a_pair_is_never_split()
    {
        Assert.Equal("a\\uD800b", LogText.Escape("a\ud800b"));
        Assert.Equal("x\\uDC00", LogText.Escape("x\udc00"));

        // A pair that does not fit whole is left out whole.
        Assert.Equal("ab…(2 more characters)", LogText.Escape("ab😀", 3));
    }

    [Fact]
    public void A_long_value_is_cut_with_a_marker_and_an_escape_is_never_cut()
    {
        var id = new string('a', 300);
        Assert.Equal(new string('a', LogText.DefaultMaxLength) + "…(44 more characters)", LogText.Escape(id));
        Assert.Equal("ab…(2 more characters)", LogText.Escape("ab\0c", 7));
        Assert.Equal("ab\\u0000…(1 more characters)", LogText.Escape("ab\0c", 8));
        Assert.Equal(string.Empty, LogText.Escape(null));
    }
}
