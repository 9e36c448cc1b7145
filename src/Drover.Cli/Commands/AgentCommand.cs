using System.CommandLine;
using Drover.Cli.Configuration;
using Drover.Cli.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Commands;

/// <summary><c>drover agent</c>: runs one agent until Ctrl-C or SIGTERM; with <c>--handler</c> it also runs jobs. Its flags are
/// generated from <see cref="AgentSettings"/>. Exit codes: 0 stopped cleanly, 1 refused for good by the hub (bad token,
/// invalid id, no common protocol version) or the agent id could not be read or made in the state directory, 2 a bad
/// setting (a value that does not parse, or options that break a rule of <see cref="Drover.Agent.AgentOptions"/> at the
/// host's start).</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent", "Run an agent: connect to a hub, report status on the hub's schedule, reconnect with backoff; with --handler, run the jobs the hub sends. Ctrl-C stops it. Without --id the agent makes its id once (<machine name>-<8 random characters>) and keeps it in --state-dir, so give each agent on a machine its own --state-dir. Every setting is also a DROVER_* variable and a key of the \"agent\" section of drover.json (docs/configuration.md). " + Drover.Agent.ProcessJobHandler.EnvironmentHelp);
        var settings = AgentSettings.Catalog.AddOptions(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!settings.TryLoad(parse, out var loaded, out var error))
            {
                await Console.Error.WriteLineAsync($"drover agent: {error}");
                return ExitCodes.Usage;
            }

            AgentConfig config;
            try
            {
                config = loaded.Options.WithStoredId();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                await Console.Error.WriteLineAsync($"drover agent: cannot keep the agent id in the state directory: {ex.Message}");
                return 1;
            }

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
