using Drover.Agent;
using Drover.Cli.Commands;
using Drover.Cli.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Hosting;

/// <summary>The agent as a hosted service: runs <see cref="DroverAgent"/> until the host stops (SIGTERM, Ctrl-C: bye sent)
/// or the hub refuses it for good (then the host stops and <see cref="ExitCode"/> is 1).</summary>
internal sealed class AgentService : BackgroundService
{
    private readonly AgentConfig _config;
    private readonly IOptions<AgentOptions> _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IHostApplicationLifetime _lifetime;

    /// <summary><paramref name="options"/> (the agent's options, validated when the host starts) is read in
    /// <see cref="ExecuteAsync"/>; <paramref name="config"/> gives the status command.</summary>
    public AgentService(AgentConfig config, IOptions<AgentOptions> options, ILoggerFactory loggerFactory, IHostApplicationLifetime lifetime)
    {
        _config = config;
        _options = options;
        _loggerFactory = loggerFactory;
        _lifetime = lifetime;
    }

    /// <summary>0 when stopped cleanly; 1 when the hub refused the agent for good (bad token, invalid id, no common version).</summary>
    public int ExitCode { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var statusCommand = _config.StatusArgv is { } argv
            ? new StatusCommandRunner(argv, _loggerFactory.CreateLogger("Drover.Cli.StatusCommand"))
            : null;
        var options = _options.Value with
        {
            StatusProvider = statusCommand is null ? null : statusCommand.RunAsync,
            LoggerFactory = _loggerFactory,
        };
        try
        {
            await using var agent = new DroverAgent(options);
            await agent.RunAsync(stoppingToken);
        }
        catch (AgentRefusedException ex)
        {
            await Console.Error.WriteLineAsync($"drover agent: {ex.Message}");
            ExitCode = 1;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            _lifetime.StopApplication();
        }
    }
}
