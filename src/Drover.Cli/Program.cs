using System.CommandLine;
using Drover.Cli.Commands;

var root = new RootCommand("Drover: one hub drives a fleet of agents. Run 'drover demo' to see it work.")
{
    ServeCommand.Create(),
    AgentCommand.Create(),
    ClientsCommand.Create(),
    DoctorCommand.Create(),
    DemoCommand.Create(),
    BenchCommand.Create(),
    SendCommand.Create(),
    JobCommands.CreateList(),
    JobCommands.CreateShow(),
    JobCommands.CreateResult(),
    JobCommands.CreateCancel(),
    AccessCommands.CreateTokens(),
    AccessCommands.CreateAudit(),
};

var parsed = root.Parse(args);
var exitCode = await parsed.InvokeAsync();

// A parse error (a missing argument, a flag that is not a number) is a usage error like the ones the
// commands find themselves: exit code 2, not System.CommandLine's 1.
return parsed.Errors.Count > 0 && exitCode == 1 ? 2 : exitCode;
