using System.CommandLine;

namespace Drover.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "TODO");
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(2));
        return command;
    }
}
