using System.CommandLine;

namespace Drover.Cli.Commands;

internal static class DoctorCommand
{
    public static Command Create()
    {
        var command = new Command("doctor", "TODO");
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(2));
        return command;
    }
}
