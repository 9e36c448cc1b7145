using System.CommandLine;

namespace Drover.Cli.Commands;

internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "TODO");
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(2));
        return command;
    }
}
