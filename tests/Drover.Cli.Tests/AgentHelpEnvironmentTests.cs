using Drover.Agent;
using Drover.Cli.Commands;

namespace Drover.Cli.Tests;

/// <summary><c>drover agent --help</c> lists the handler's DROVER_* variables from the one table in Drover.Agent
/// (the same table docs/protocol.md is checked against in Drover.Agent.Tests).</summary>
public sealed class AgentHelpEnvironmentTests
{
    [Fact]
    public void The_agent_commands_help_lists_every_handler_variable_with_its_meaning()
    {
        var description = AgentCommand.Create().Description!;

        Assert.Contains(ProcessJobHandler.EnvironmentHelp, description, StringComparison.Ordinal);
        foreach (var (name, meaning) in ProcessJobHandler.EnvironmentVariables)
        {
            Assert.Contains($"{name} ({meaning})", description, StringComparison.Ordinal);
        }
    }
}
