namespace Drover.Cli.Tests;

public sealed class CliParsingTests
{
    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("4096B", 4096L)]
    [InlineData("512KiB", 512L * 1024)]
    [InlineData("1MiB", 1024L * 1024)]
    [InlineData("1mb", 1024L * 1024)]
    [InlineData("1.5M", 1536L * 1024)]
    [InlineData(" 16MiB ", 16L * 1024 * 1024)]
    [InlineData("1GiB", 1L << 30)]
    public void Sizes_parse_in_binary_units(string text, long expected)
    {
        Assert.True(CliParsing.TryParseSize(text, out var bytes, out _));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("-1KiB")]
    [InlineData("12TB")]
    [InlineData("ten")]
    public void Bad_sizes_are_refused_with_an_example(string text)
    {
        Assert.False(CliParsing.TryParseSize(text, out _, out var error));
        Assert.Contains("1MiB", error, StringComparison.Ordinal);
    }
}
