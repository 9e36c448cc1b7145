using System.CommandLine;
using Drover.Cli.Configuration;
using Drover.Cli.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Commands;

/// <summary><c>drover agent</c>: runs one agent until Ctrl-C or SIGTERM; with <c>--handler</c> it also runs jobs. Its flags are
/// generated from <see cref="AgentSettings"/>. Exit codes: 0 stopped cleanly, 1 refused for good by the hub (bad token,
/// invalid id, no common protocol version), 2 a bad setting (a value that does not parse, or options that break a rule of
/// <see cref="Drover.Agent.AgentOptions"/> at the host's start).</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent", "Run an agent: connect to a hub, report status on the hub's schedule, reconnect with backoff; with --handler, run the jobs the hub sends. Ctrl-C stops it. Every setting is also a DROVER_* variable and a key of the \"agent\" section of drover.json (docs/configuration.md). " + Drover.Agent.ProcessJobHandler.EnvironmentHelp);
        var settings = AgentSettings.Catalog.AddOptions(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!settings.TryLoad(parse, out var loaded, out var error))
            {
                await Console.Error.WriteLineAsync($"drover agent: {error}");
                return ExitCodes.Usage;
            }

            var config = loaded.Options;
            using var host = CommandHost.Build<AgentConfig, AgentService, Drover.Agent.AgentOptions>(config, config.Logging, config.Agent, AgentSettings.Validator(loaded));
            var agent = host.Services.GetRequiredService<AgentService>();
            try
            {
                await host.StartAsync(cancellationToken);
            }
            catch (OptionsValidationException ex)
            {
                await CommandHost.ValidationFailed("agent", ex);
                return ExitCodes.Usage;
            }

            await host.WaitForShutdownAsync(cancellationToken);
            return agent.ExitCode;
        });
        return command;
    }
}
