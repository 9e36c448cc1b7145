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
};

return await root.Parse(args).InvokeAsync();
