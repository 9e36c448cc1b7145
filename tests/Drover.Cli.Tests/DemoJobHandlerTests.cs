using System.Text;
using Drover.Cli.Demo;

namespace Drover.Cli.Tests;

/// <summary>The demo's sample files and its in-process handler's counting (no sockets).</summary>
public sealed class DemoJobHandlerTests
{
    [Theory]
    [InlineData("", 0, 0, 0)]
    [InlineData("a,b\n", 1, 1, 0)]
    [InlineData("a,b\n1,2\n3,4", 3, 3, 0)]
    [InlineData("h,x,y\n1,2,3\n1,2\n1,2,3\n", 4, 4, 2)]
    [InlineData("a,b\n1, two words\n", 2, 4, 0)]
    public void Count_finds_lines_words_and_the_first_row_with_the_wrong_number_of_fields(string text, int lines, int words, int badRow)
    {
        var counts = DemoJobHandler.Count(Encoding.UTF8.GetBytes(text));
        Assert.Equal((lines, words, Encoding.UTF8.GetByteCount(text), badRow), (counts.Lines, counts.Words, (int)counts.Bytes, counts.BadRow));
    }

    [Fact]
    public void Samples_are_small_csv_files_and_about_one_in_fifty_has_a_bad_row()
    {
        var random = new Random(1);
        var bad = 0;
        for (var i = 1; i <= 2000; i++)
        {
            var (name, content) = SampleFiles.Create(random, i);
            Assert.Matches(@"^[a-z]+-\d{6}\.csv$", name);
            Assert.InRange(content.Length, 50, 8 * 1024);
            Assert.StartsWith(SampleFiles.Header + "\n", Encoding.UTF8.GetString(content), StringComparison.Ordinal);
            var counts = DemoJobHandler.Count(content);
            Assert.Equal(4, counts.HeaderFields);
            bad += counts.BadRow > 0 ? 1 : 0;
        }

        Assert.InRange(bad, 15, 70);
    }
}
