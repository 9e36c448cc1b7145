using System.Text;
using Spectre.Console;

namespace Drover.Cli.Tests;

/// <summary>The CLI's one rule for tables (<see cref="CliTable"/>): plain aligned rows when the output is not a terminal,
/// a Spectre table as wide as <c>COLUMNS</c> (or the terminal) when it is.</summary>
public sealed class CliTableTests
{
    private static CliTable Sample()
    {
        var table = new CliTable("id", "state", "submitted", "n").NoWrap(0).RightAligned(3);
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
    public void On_a_terminal_a_table_as_wide_as_COLUMNS_with_the_id_never_wrapped()
    {
        var output = new TerminalOutput();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = output });
        Sample().Write(console, columns: 50);

        var lines = output.Text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.True(line.Length <= 50, $"wider than COLUMNS: {line}"));
        Assert.Contains(lines, line => line.Contains("j-0123456789abcdef0123456789", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains('│', StringComparison.Ordinal) || line.Contains('|', StringComparison.Ordinal));

        var wide = new TerminalOutput();
        console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = wide });
        Sample().Write(console, columns: 200);
        Assert.Contains(wide.Text.ToString().Split('\n'), line => line.Contains("2026-12-07 18:09:08.123Z", StringComparison.Ordinal));
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
