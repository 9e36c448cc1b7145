using Drover.Agent;
using Drover.Protocol;
using S = Drover.Cli.Configuration.Settings<Drover.Cli.Configuration.AgentConfig>;

namespace Drover.Cli.Configuration;

/// <summary>What <c>drover agent</c> runs with: the agent's options plus their CLI forms (the handler command, the status
/// command, logging). A default-constructed one holds every default.</summary>
internal sealed record AgentConfig
{
    public AgentOptions Agent { get; init; } = new();

    /// <summary>The agent id given; none: the one kept in <see cref="StateDirectory"/> (see <see cref="WithStoredId"/>).</summary>
    public string? Id { get; init; }

    /// <summary>Where the agent keeps its state; none: <see cref="AgentIdentity.DefaultStateDirectory"/>.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>The command run for each job (makes a <see cref="ProcessJobHandler"/>); none: the agent takes no jobs.</summary>
    public string? Handler { get; init; }

    /// <summary>Run <see cref="Handler"/> with /bin/sh -c.</summary>
    public bool Shell { get; init; }

    /// <summary>Where job directories are made; none: <see cref="AgentOptions.DefaultWorkDirectory"/>.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>How many jobs run at once; none: <see cref="AgentOptions.JobSlots"/>'s default.</summary>
    public int? Slots { get; init; }

    /// <summary>The status command, split like a shell; none: no status command.</summary>
    public string? StatusCommand { get; init; }

    /// <summary><see cref="StatusCommand"/> split into argv (set once the options are complete).</summary>
    public string[]? StatusArgv { get; init; }

    public LoggingConfig Logging { get; init; } = new();

    /// <summary>This config with its agent id (the one given, else the one kept in the state directory, made there on the
    /// first start: <see cref="AgentIdentity.LoadOrCreate"/>) and its agent keys (always those kept in the state directory:
    /// <see cref="AgentIdentity.OpenKeyStore"/>); both throw when they cannot read or write their file.</summary>
    public AgentConfig WithStoredId()
    {
        var state = StateDirectory ?? AgentIdentity.DefaultStateDirectory();
        var agent = Agent with { KeyStore = AgentIdentity.OpenKeyStore(state) };
        return this with { Agent = Id is not null ? agent : agent with { AgentId = AgentIdentity.LoadOrCreate(state) } };
    }

    /// <summary>The CA file the hub's certificate must chain to, or "system"; makes <see cref="AgentOptions.Trust"/>.</summary>
    public string? Ca { get; init; }

    /// <summary>The pinned SHA-256 fingerprint of the hub's key; makes <see cref="AgentOptions.Trust"/>.</summary>
    public string? HubFingerprint { get; init; }

    /// <summary>Plain TCP: <see cref="HubTrust.Insecure"/>.</summary>
    public bool Insecure { get; init; }
}

/// <summary>The settings catalog of <c>drover agent</c> (JSON section <c>agent</c>). Not settable: the clock, the logger,
/// the handler object (its CLI form is <c>--handler</c>/<c>--shell</c>) and the status provider (<c>--status-command</c>).</summary>
internal static class AgentSettings
{
    public static SettingsCatalog<AgentConfig> Catalog { get; } = new("agent", "agent", Create(), Complete, new Dictionary<string, string>
    {
        [nameof(AgentOptions.Hubs)] = "hub",
        [nameof(AgentOptions.AgentId)] = "id",
        [nameof(AgentOptions.Capabilities)] = "capability",
        [nameof(AgentOptions.IncludeSystemMetrics)] = "system-metrics",
        [nameof(AgentOptions.JobSlots)] = "slots",
        [nameof(AgentOptions.JobHandler)] = "handler",
        [nameof(AgentOptions.WorkDirectory)] = "workdir",
        [nameof(AgentOptions.OutputTailBytes)] = "output-tail",
        [nameof(AgentOptions.MaxOutFileBytes)] = "max-out-file",
    });

    /// <summary>The rules of <see cref="AgentOptions"/> as drover agent's options validator, naming the settings of
    /// <paramref name="loaded"/> in its lines.</summary>
    public static SettingsValidator<AgentConfig, AgentOptions> Validator(LoadedSettings<AgentConfig> loaded) =>
        new(loaded, static agent => agent.GetValidationErrors());

    private static Setting<AgentConfig>[] Create() =>
    [
        S.List("hub", "HOST:PORT", "Required: a hub to connect to ([IPv6]:PORT); repeat for several hubs (comma-separated in the environment, an array in JSON): the agent picks one by its id and fails over to the others",
            o => o.Agent.Hubs, (o, v) => o with { Agent = o.Agent with { Hubs = v } }),
        S.Text("id", "text", "The agent id: 1-128 characters of A-Z a-z 0-9 . _ : @ -. Without it the agent makes one on its first start, <machine name>-<8 random characters>, and keeps it in the file agent-id of its state directory: the same state directory gives the same id after a restart, and two agents on one machine need two state directories",
            o => o.Id, (o, v) => o with { Id = v }, defaultInWords: "the one kept in the state directory"),
        S.Text("state-dir", "path", "Where the agent keeps its state (the file agent-id, made on the first start when no id is given); one agent per state directory",
            o => o.StateDirectory, (o, v) => o with { StateDirectory = v },
            defaultInWords: "$XDG_STATE_HOME/drover/agent, else ~/.local/state/drover/agent"),
        S.Text("ca", "path or system", "Trust the hub whose TLS certificate this CA file signed (the hub's own is DATA/tls/ca.pem; the certificate must name the host in --hub), or 'system' for the machine's trusted roots. One of --ca, --hub-fingerprint or --insecure is required",
            o => o.Ca, (o, v) => o with { Ca = v }),
        S.Text("hub-fingerprint", "SHA-256", "Trust only the hub with this key, as the hub prints it at start (AB:CD:...; colons and case optional), whatever name it is dialled by",
            o => o.HubFingerprint, (o, v) => o with { HubFingerprint = v }),
        S.Switch("insecure", "Plain TCP: the hub is not authenticated and nothing is encrypted (for a hub started with --insecure on loopback; a warning is logged)",
            o => o.Insecure, (o, v) => o with { Insecure = v }),
        S.Text("token", "text", "A join token (drover tokens create --join: it enrolls this agent's key once; the key is its credential from then on) or the hub's shared --token",
            o => o.Agent.Token, (o, v) => o with { Agent = o.Agent with { Token = v } }),
        S.Of("labels", "k=v,k2=v2", "Labels sent to the hub, as key=value pairs separated by commas: zone=eu,role=web", ValueParsers.Labels,
            o => o.Agent.Labels, (o, v) => o with { Agent = o.Agent with { Labels = v } }, v => v.Count == 0 ? "none" : string.Join(",", v.Select(p => $"{p.Key}={p.Value}"))),
        S.List("capability", "text", "A capability sent in hello; repeat for several",
            o => o.Agent.Capabilities, (o, v) => o with { Agent = o.Agent with { Capabilities = v } }),
        S.Text("status-command", "command", "A command run before each report (no shell; simple quoting works, 5 s timeout) whose stdout JSON object is merged into the report's fields",
            o => o.StatusCommand, (o, v) => o with { StatusCommand = v }),
        S.Switch("system-metrics", "Each report carries the load average and memory from /proc",
            o => o.Agent.IncludeSystemMetrics, (o, v) => o with { Agent = o.Agent with { IncludeSystemMetrics = v } }),
        S.Text("handler", "command", "Take jobs: the command run for each one, with {file} (the input file), {out} (where to write a result file), {job} and {attempt} replaced. Split like a shell (quotes), run without one; DROVER_* variables are set",
            o => o.Handler, (o, v) => o with { Handler = v }),
        S.Switch("shell", "Run the handler command with /bin/sh -c (pipes, redirections); placeholders are replaced by single-quoted values",
            o => o.Shell, (o, v) => o with { Shell = v }),
        S.Text("workdir", "path", "Where job directories are made (needs a handler)",
            o => o.WorkDirectory, (o, v) => o with { WorkDirectory = v },
            defaultInWords: "$XDG_STATE_HOME/drover/agent-ID/work, else ~/.local/state/drover/agent-ID/work"),
        S.Of("slots", "number", "How many jobs run at once, 1-65535 (needs a handler)", S.IntRange(1, ushort.MaxValue),
            o => o.Slots ?? 0, (o, v) => o with { Slots = v }, ValueParsers.FormatInt, defaultInWords: "the number of processors"),
        S.IntSize("output-tail", "How many bytes of a handler's stdout and of its stderr go back with the result (the last ones; 0 to 1MiB)",
            o => o.Agent.OutputTailBytes, (o, v) => o with { Agent = o.Agent with { OutputTailBytes = v } }),
        S.IntSize("max-out-file", "The largest out file sent back with a result (0 to 16MiB; the hub's limit can lower it)",
            o => o.Agent.MaxOutFileBytes, (o, v) => o with { Agent = o.Agent with { MaxOutFileBytes = v } }),
        S.Int("max-unacked-results", "How many finished jobs may wait for the hub's acknowledgement before new jobs are answered busy",
            o => o.Agent.MaxUnackedResults, (o, v) => o with { Agent = o.Agent with { MaxUnackedResults = v } }),
        S.Duration("backoff-base", "The first reconnect delay ceiling; it doubles per failed attempt",
            o => o.Agent.BackoffBase, (o, v) => o with { Agent = o.Agent with { BackoffBase = v } }),
        S.Duration("backoff-cap", "The largest reconnect delay ceiling",
            o => o.Agent.BackoffCap, (o, v) => o with { Agent = o.Agent with { BackoffCap = v } }),
        S.Duration("handshake-timeout", "How long to wait for welcome or refuse after hello",
            o => o.Agent.HandshakeTimeout, (o, v) => o with { Agent = o.Agent with { HandshakeTimeout = v } }),
        S.Duration("connect-timeout", "How long a TCP connect may take",
            o => o.Agent.ConnectTimeout, (o, v) => o with { Agent = o.Agent with { ConnectTimeout = v } }),
        S.Int("status-backlog", "How many status samples are kept while disconnected and sent after the next welcome (0 to 100000)",
            o => o.Agent.StatusBacklog, (o, v) => o with { Agent = o.Agent with { StatusBacklog = v } }),
        ..LoggingSettings.For<AgentConfig>(o => o.Logging, (o, v) => o with { Logging = v }),
    ];

    /// <summary>The CLI's own rules (slots, shell and workdir need a handler; the handler and status command must split)
    /// and the options made of them; the rules of <see cref="AgentOptions"/> run at the host's start (<see cref="Validator"/>).</summary>
    private static (AgentConfig Options, string? Error) Complete(AgentConfig config)
    {
        if (config.Handler is null && (config.Slots is not null || config.Shell || config.WorkDirectory is not null))
        {
            return (config, "slots, shell and workdir need a handler (--handler)");
        }

        string[]? statusArgv = null;
        if (config.StatusCommand is { } statusCommand)
        {
            if (!Drover.Agent.Internal.CommandLine.TrySplit(statusCommand, out var argv, out var splitError))
            {
                return (config, splitError);
            }

            statusArgv = argv;
        }

        if (config.StateDirectory is { } stateDirectory && (string.IsNullOrWhiteSpace(stateDirectory) || stateDirectory.Contains('\0', StringComparison.Ordinal)))
        {
            return (config, "the state directory must be a non-empty path");
        }

        // Without --id the real id is read (or made) at start (AgentConfig.WithStoredId); until then a stand-in of the
        // same shape lets the rest be checked without touching the disk.
        var agent = config.Agent with { AgentId = config.Id ?? AgentIdentity.NewId(Environment.MachineName) };
        if (config.Handler is { } handlerText)
        {
            try
            {
                agent = agent with { JobHandler = new ProcessJobHandler(handlerText, config.Shell) };
            }
            catch (ArgumentException ex)
            {
                // The command does not split (an open quote): a bad value of handler.
                return (config, ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal));
            }
        }

        if (config.Slots is { } slots)
        {
            agent = agent with { JobSlots = (ushort)slots };
        }

        if (config.WorkDirectory is { } workdir)
        {
            agent = agent with { WorkDirectory = workdir };
        }

        try
        {
            agent = agent with { Trust = TrustOf(config) };
        }
        catch (Exception ex) when (ex is ArgumentException or IOException)
        {
            return (config, ex.Message);
        }

        return (config with { Agent = agent, StatusArgv = statusArgv }, null);
    }

    /// <summary>What the agent trusts its hub by: exactly one of --ca, --hub-fingerprint and --insecure. Throws
    /// <see cref="ArgumentException"/> (or <see cref="IOException"/> for an unreadable CA file) with one line.</summary>
    private static HubTrust TrustOf(AgentConfig config)
    {
        var given = (config.Ca is null ? 0 : 1) + (config.HubFingerprint is null ? 0 : 1) + (config.Insecure ? 1 : 0);
        if (given == 0)
        {
            throw new ArgumentException("say how to trust the hub: --ca FILE (the hub's DATA/tls/ca.pem), --hub-fingerprint KEY (the hub prints it at start), --ca system (a certificate from a public CA), or --insecure (plain TCP, a hub started with --insecure)");
        }

        if (given > 1)
        {
            throw new ArgumentException("--ca, --hub-fingerprint and --insecure are alternatives: give one");
        }

        if (config.HubFingerprint is { } fingerprint)
        {
            return CertificateFingerprint.TryParse(fingerprint, out _, out var error)
                ? HubTrust.FromKeyFingerprint(fingerprint)
                : throw new ArgumentException(error);
        }

        return config.Insecure ? HubTrust.Insecure
            : string.Equals(config.Ca, "system", StringComparison.OrdinalIgnoreCase) ? HubTrust.SystemRoots
            : HubTrust.FromAuthorityFile(config.Ca!);
    }
}
