using System.Text;
using Spectre.Console;

namespace Drover.Cli.Tests;

/// <summary>The CLI's one rule for tables (<see cref="CliTable"/>): plain aligned rows when the output is not a terminal,
/// a Spectre table as wide as <c>COLUMNS</c> (or the terminal) when it is.</summary>
public sealed class CliTableTests
{
    private static CliTable Sample()
    {
        var table = new CliTable("id", "state", "submitted", "n").RightAligned(3);
        table.AddRow("j-0123456789abcdef0123456789", new CliCell("done", "green"), "2026-12-07 18:09:08.123Z", "7");
        table.AddRow("j-2", new CliCell("queued", "grey"), "2026-12-07 18:09:09.456Z", "12");
        table.AddRow("j-3", "running", "multi\nline [not markup]", "1");
        return table;
    }

    [Fact]
    public void Not_a_terminal_plain_rows_one_line_each_aligned_without_borders_or_colour()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, Out = new AnsiConsoleOutput(text) });
        console.Profile.Width = 40; // a narrow width changes nothing for plain rows
        Sample().Write(console, columns: 40);

        var lines = text.ToString().Split('\n');
        Assert.Equal(
            [
                "ID                            STATE    SUBMITTED                  N",
                "j-0123456789abcdef0123456789  done     2026-12-07 18:09:08.123Z   7",
                "j-2                           queued   2026-12-07 18:09:09.456Z  12",
                "j-3                           running  multi line [not markup]    1",
                string.Empty,
            ],
            lines);
    }

    [Fact]
    public void On_a_terminal_a_table_within_COLUMNS_wraps_only_free_text_columns()
    {
        var table = new CliTable("id", "state", "labels").Wrap(2);
        table.AddRow("rack-a3-worker-0001", new CliCell("online", "green"), "rack=a3,zone=eu-west-with-a-long-name,role=transcoder,pool=gpu");
        var output = Terminal(table, columns: 56);

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.True(line.Length <= 56, $"wider than COLUMNS: {line}"));
        Assert.Contains(lines, line => line.Contains("rack-a3-worker-0001", StringComparison.Ordinal) && line.Contains("online", StringComparison.Ordinal));
        Assert.True(lines.Count(line => line.Contains('│', StringComparison.Ordinal)) > 3, "the labels wrap over several lines of a bordered table");
    }

    [Fact]
    public void On_a_terminal_too_narrow_for_whole_ids_and_timestamps_plain_rows()
    {
        Assert.Equal(74, Sample().MinimumWidth());
        var narrow = Terminal(Sample(), columns: 50);
        Assert.DoesNotContain('│', narrow);
        Assert.Equal(5, narrow.Split('\n').Length);
        Assert.Contains("j-2                           queued   2026-12-07 18:09:09.456Z  12", narrow, StringComparison.Ordinal);

        var wide = Terminal(Sample(), columns: 200);
        Assert.Contains(wide.Split('\n'), line => line.Contains('│', StringComparison.Ordinal) && line.Contains("2026-12-07 18:09:08.123Z", StringComparison.Ordinal));
    }

    private static string Terminal(CliTable table, int columns)
    {
        var output = new TerminalOutput();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = output });
        table.Write(console, columns);
        return output.Text.ToString();
    }

    /// <summary>An output that says it is a terminal.</summary>
    private sealed class TerminalOutput : IAnsiConsoleOutput
    {
        public StringWriter Text { get; } = new();

        public TextWriter Writer => Text;

        public bool IsTerminal => true;

        public int Width => 80;

        public int Height => 24;

        public void SetEncoding(Encoding encoding)
        {
        }
    }
}
