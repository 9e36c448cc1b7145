using System.CommandLine;

namespace Drover.Cli.Commands;

internal static class ClientsCommand
{
    public static Command Create()
    {
        var command = new Command("clients", "TODO");
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(2));
        return command;
    }
}
