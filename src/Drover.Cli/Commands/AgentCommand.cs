using System.CommandLine;

namespace Drover.Cli.Commands;

internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent", "TODO");
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(2));
        return command;
    }
}
