using Microsoft.Extensions.Logging;

namespace Drover.Cli;

/// <summary>The CLI's own log lines (the hub and the agent have theirs in their projects' Log.cs).</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Data in {DataDir}; report interval {Interval}")]
    public static partial void HubStarted(ILogger logger, string dataDir, TimeSpan interval);

    [LoggerMessage(2, LogLevel.Information, "Stopping: saying bye to every agent and flushing the store")]
    public static partial void HubStopping(ILogger logger);

    [LoggerMessage(3, LogLevel.Critical, "Hub could not start: {Message}")]
    public static partial void HubStartFailed(ILogger logger, string message);

    [LoggerMessage(5, LogLevel.Information, "Agents and the HTTP API use TLS. Hub key fingerprint {Fingerprint}: an agent (or the CLI) trusts this hub with --hub-fingerprint {Fingerprint} or --ca {CaFile}")]
    public static partial void HubTls(ILogger logger, string fingerprint, string caFile);

    [LoggerMessage(6, LogLevel.Warning, "The agent port is plain TCP and the HTTP API plain HTTP (--insecure): agents' hellos, tokens and files and operators' API tokens cross the network unencrypted, and agents cannot tell this hub from an impostor")]
    public static partial void HubInsecure(ILogger logger);

    [LoggerMessage(4, LogLevel.Warning, "Status command '{Command}' failed; reports go out without its fields: {Error}")]
    public static partial void StatusCommandFailed(ILogger logger, string command, string error);
}
