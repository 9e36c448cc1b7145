using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Drover.Cli;

/// <summary>One cell of a <see cref="CliTable"/>: its text and, for a terminal, a Spectre style (<c>green</c>, <c>red bold</c>).</summary>
internal readonly record struct CliCell(string Text, string? Style = null)
{
    public static implicit operator CliCell(string text) => new(text);

    public static CliCell FromString(string text) => new(text);
}

/// <summary>Every table the CLI prints (jobs, clients, tokens, agent credentials, doctor, bench, the demo's summary), under
/// one rule:
/// <list type="bullet">
/// <item>to a terminal, a Spectre table within the terminal's width, or <c>COLUMNS</c> when it is set: only the columns of
/// free text (<see cref="Wrap"/>: names, labels, notes) are wrapped, never an id, a state, a number or a timestamp;</item>
/// <item>to a terminal too narrow for that (the free-text columns would get fewer than <see cref="MinWrappedWidth"/>
/// characters), and anywhere else (a pipe, a file), plain rows as <c>kubectl get</c> prints them: a header of upper-case
/// names, then one line per row, columns aligned with two spaces between them, no borders, no colour, nothing wrapped or
/// cut (a line break inside a cell becomes a space), whatever <c>COLUMNS</c> says.</item>
/// </list></summary>
internal sealed class CliTable(params string[] headers)
{
    /// <summary>The fewest characters a wrapped column is given on a terminal; below that the table is printed as plain rows.</summary>
    public const int MinWrappedWidth = 16;

    private readonly List<CliCell[]> _rows = [];
    private readonly HashSet<int> _wrap = [];
    private readonly HashSet<int> _rightAligned = [];

    /// <summary>Column <paramref name="column"/> holds free text, which a terminal's table may wrap; every other column is
    /// printed whole.</summary>
    public CliTable Wrap(int column)
    {
        _wrap.Add(column);
        return this;
    }

    /// <summary>Column <paramref name="column"/> is right-aligned (numbers).</summary>
    public CliTable RightAligned(int column)
    {
        _rightAligned.Add(column);
        return this;
    }

    public void AddRow(params CliCell[] cells)
    {
        if (cells.Length != headers.Length)
        {
            throw new ArgumentException($"{cells.Length} cells for {headers.Length} columns", nameof(cells));
        }

        _rows.Add(cells);
    }

    /// <summary>Writes the table to standard output.</summary>
    public void Write() => Write(AnsiConsole.Console);

    /// <summary>Writes the table to <paramref name="console"/>: a Spectre table when its output is a terminal, else plain rows.</summary>
    public void Write(IAnsiConsole console) => Write(console, TerminalColumns());

    /// <summary>As <see cref="Write(IAnsiConsole)"/>, a terminal's table <paramref name="columns"/> wide when it is given
    /// (<c>COLUMNS</c>), else as wide as the terminal.</summary>
    internal void Write(IAnsiConsole console, int? columns)
    {
        if (columns is { } width)
        {
            console.Profile.Width = width;
        }

        if (!console.Profile.Out.IsTerminal || MinimumWidth() > console.Profile.Width)
        {
            console.Profile.Out.Writer.Write(Plain());
            console.Profile.Out.Writer.Flush();
            return;
        }

        var table = new Table();
        for (var i = 0; i < headers.Length; i++)
        {
            var column = new TableColumn(Markup.Escape(headers[i]));
            if (!_wrap.Contains(i))
            {
                column.NoWrap();
            }

            if (_rightAligned.Contains(i))
            {
                column.RightAligned();
            }

            table.AddColumn(column);
        }

        foreach (var row in _rows)
        {
            table.AddRow(row.Select(cell => cell.Style is null ? Markup.Escape(cell.Text) : $"[{cell.Style}]{Markup.Escape(cell.Text)}[/]").ToArray());
        }

        console.Write(table);
    }

    /// <summary>The plain rows: the header, then one line per row, each ending in a line feed.</summary>
    public string Plain()
    {
        var lines = new List<string[]> { headers.Select(h => h.ToUpperInvariant()).ToArray() };
        lines.AddRange(_rows.Select(row => row.Select(cell => OneLine(cell.Text)).ToArray()));
        var widths = Enumerable.Range(0, headers.Length).Select(i => lines.Max(line => line[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            var row = new StringBuilder();
            for (var i = 0; i < line.Length; i++)
            {
                var last = i == line.Length - 1;
                var cell = _rightAligned.Contains(i) ? line[i].PadLeft(widths[i]) : last ? line[i] : line[i].PadRight(widths[i]);
                row.Append(cell);
                if (!last)
                {
                    row.Append("  ");
                }
            }

            text.Append(row.ToString().TrimEnd()).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The width of the Spectre table with every column whole but the free-text ones, which get at most
    /// <see cref="MinWrappedWidth"/> characters: its cells, a space either side of each, and a border line before each
    /// column and after the last.</summary>
    internal int MinimumWidth()
    {
        var width = 1;
        for (var i = 0; i < headers.Length; i++)
        {
            var natural = _rows.Select(row => OneLine(row[i].Text).Length).Append(headers[i].Length).Max();
            width += (_wrap.Contains(i) ? Math.Min(natural, MinWrappedWidth) : natural) + 3;
        }

        return width;
    }

    /// <summary><c>COLUMNS</c>, when it is set to a sensible width.</summary>
    private static int? TerminalColumns() =>
        int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), NumberStyles.None, CultureInfo.InvariantCulture, out var columns) && columns is >= 20 and <= 10_000
            ? columns
            : null;

    private static string OneLine(string text) =>
        string.IsNullOrEmpty(text) ? "-" : text.Contains('\n', StringComparison.Ordinal) || text.Contains('\r', StringComparison.Ordinal)
            ? text.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ')
            : text;
}
