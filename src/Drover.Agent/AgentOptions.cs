using System.Reflection;
using Drover.Agent.Internal;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent;

/// <summary>Everything a <see cref="DroverAgent"/> needs. Defaults are listed on each property;
/// <see cref="Validate"/> runs when the agent is constructed and names the first bad setting.</summary>
public sealed record AgentOptions
{
    /// <summary>The hubs this agent may use, as "host:port" (IPv6 as "[::1]:7400"). At least one.
    /// The agent picks one by rendezvous hashing of its id, and fails over to the next in that order.</summary>
    public IReadOnlyList<string> Hubs { get; init; } = [];

    /// <summary>This agent's id: 1 to 128 bytes of [A-Za-z0-9._:@-]. Default: <see cref="Environment.MachineName"/>.</summary>
    public string AgentId { get; init; } = Environment.MachineName;

    /// <summary>The credential sent in hello. Default: empty.</summary>
    public string Token { get; init; } = string.Empty;

    /// <summary>Free-form labels sent in hello (used by the hub for placement). Default: none.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Capabilities sent in hello. Default: none.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];

    /// <summary>The agent's version string sent in hello. Default: the Drover.Agent assembly's version.</summary>
    public string AgentVersion { get; init; } = DefaultAgentVersion;

    /// <summary>How many jobs the agent runs at once, sent in hello. Default: 0 (jobs are not implemented yet).</summary>
    public ushort JobSlots { get; init; }

    /// <summary>The first reconnect delay ceiling; it doubles per failed attempt. Default: 500 ms.</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The largest reconnect delay ceiling. Default: 30 s. Also the least time an agent waits after
    /// the hub replaced its session with another one using the same id.</summary>
    public TimeSpan BackoffCap { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for welcome or refuse after hello. Default: 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a TCP connect may take. Default: 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many status samples are kept while disconnected (the latest ones; the oldest is dropped)
    /// and sent after the next welcome. 0 keeps none. Default: 16.</summary>
    public int StatusBacklog { get; init; } = 16;

    /// <summary>Whether each report carries load1/load5/load15 and mem_total_bytes/mem_available_bytes from
    /// /proc (when readable). Default: true. A simulator running many agents in one process may turn it off.</summary>
    public bool IncludeSystemMetrics { get; init; } = true;

    /// <summary>Called before each report (and each sample taken while disconnected); its fields are merged
    /// into the report after the system metrics and the fields set with <see cref="DroverAgent.SetField"/>,
    /// replacing fields of the same name. If it throws, the report goes out without its fields and a warning
    /// is logged once per distinct error. Default: none.</summary>
    public Func<CancellationToken, ValueTask<IReadOnlyDictionary<string, FieldValue>>>? StatusProvider { get; init; }

    /// <summary>The clock for every wait (report slots, backoff, timeouts). Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Used to create the logger (category "Drover.Agent") when <see cref="Logger"/> is null. Default: none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The logger; takes precedence over <see cref="LoggerFactory"/>. Default: none (no logging).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The informational version of this assembly, without any "+commit" suffix.</summary>
    public static string DefaultAgentVersion { get; } = ReadAssemblyVersion();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Hubs is null || Hubs.Count == 0)
        {
            throw new ArgumentException("at least one hub (\"host:port\") is required", nameof(Hubs));
        }

        foreach (var hub in Hubs)
        {
            if (!HubAddress.TryParse(hub, out _, out var error))
            {
                throw new ArgumentException(error, nameof(Hubs));
            }
        }

        if (!AgentIds.IsValid(AgentId, out var reason))
        {
            throw new ArgumentException($"invalid agent id '{AgentId}': {reason}", nameof(AgentId));
        }

        if (Token is null)
        {
            throw new ArgumentException("token must not be null (use an empty string for none)", nameof(Token));
        }

        if (Labels is null || Capabilities is null || AgentVersion is null)
        {
            throw new ArgumentException("labels, capabilities and agent version must not be null");
        }

        foreach (var (key, value) in Labels)
        {
            if (string.IsNullOrEmpty(key) || value is null)
            {
                throw new ArgumentException("label keys must be non-empty and values non-null", nameof(Labels));
            }
        }

        RequirePositive(BackoffBase, nameof(BackoffBase));
        RequirePositive(BackoffCap, nameof(BackoffCap));
        RequirePositive(HandshakeTimeout, nameof(HandshakeTimeout));
        RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        if (BackoffCap < BackoffBase)
        {
            throw new ArgumentException($"backoff cap ({BackoffCap}) must be at least the backoff base ({BackoffBase})", nameof(BackoffCap));
        }

        if (StatusBacklog is < 0 or > 100_000)
        {
            throw new ArgumentException($"status backlog must be 0 to 100000, got {StatusBacklog}", nameof(StatusBacklog));
        }

        if (TimeProvider is null)
        {
            throw new ArgumentException("time provider must not be null", nameof(TimeProvider));
        }

        int helloSize;
        try
        {
            helloSize = CreateHello().PayloadSize;
        }
        catch (ProtocolException ex)
        {
            throw new ArgumentException($"hello cannot be encoded: {ex.Message}", ex);
        }

        if (helloSize > ProtocolConstants.MaxHelloFrameSize)
        {
            throw new ArgumentException(
                $"hello would be {helloSize} bytes; the limit is {ProtocolConstants.MaxHelloFrameSize} (fewer labels or capabilities)");
        }
    }

    internal Hello CreateHello() => new(
        ProtocolConstants.MinVersion,
        ProtocolConstants.MaxVersion,
        AgentId,
        Token,
        AgentVersion,
        Labels,
        Capabilities,
        JobSlots);

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} must be positive, got {value}", name);
        }
    }

    private static string ReadAssemblyVersion()
    {
        var assembly = typeof(AgentOptions).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrEmpty(informational))
        {
            var plus = informational.IndexOf('+', StringComparison.Ordinal);
            return plus > 0 ? informational[..plus] : informational;
        }

        return assembly.GetName().Version?.ToString() ?? "0.0.0";
    }
}
