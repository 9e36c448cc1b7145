using Spectre.Console;

namespace Drover.Cli;

/// <summary>Progress of a long operation (<c>send</c>'s upload and <c>--wait</c>, <c>bench</c>'s phases), drawn with
/// Spectre.Console on standard error, and only when standard error is a terminal: piped or redirected, nothing is drawn and
/// standard output carries exactly what it carries without progress. While progress is drawn, lines meant for standard
/// output go through <see cref="WriteLine"/>, which prints them above the bars when standard output is the terminal too.</summary>
internal sealed class CliProgress
{
    private readonly ProgressContext _context;
    private readonly IAnsiConsole _console;

    private CliProgress(ProgressContext context, IAnsiConsole console)
    {
        _context = context;
        _console = console;
    }

    /// <summary>The console progress is drawn on: standard error, when it is an interactive terminal; else null.</summary>
    public static IAnsiConsole? Console { get; } = MakeConsole();

    /// <summary>Runs <paramref name="work"/> with progress bars on <see cref="Console"/>, or with null (no progress) when
    /// standard error is not a terminal.</summary>
    public static async Task<T> RunAsync<T>(Func<CliProgress?, Task<T>> work)
    {
        if (Console is not { } console)
        {
            return await work(null);
        }

        var result = default(T)!;
        await console.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context => result = await work(new CliProgress(context, console)));
        return result;
    }

    /// <summary>A bar named <paramref name="description"/> that reaches its end at <paramref name="total"/>.</summary>
    public ProgressTask AddTask(string description, double total) => _context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));

    /// <summary>Writes <paramref name="line"/> to standard output: above the bars when standard output is the terminal
    /// they are drawn on, else to standard output as usual.</summary>
    public void WriteLine(string line)
    {
        if (System.Console.IsOutputRedirected)
        {
            System.Console.Out.WriteLine(line);
            return;
        }

        _console.Write(new Text(line + "\n"));
    }

    private static IAnsiConsole? MakeConsole()
    {
        if (System.Console.IsErrorRedirected)
        {
            return null;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) });
        return console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi ? console : null;
    }
}
