using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Drover.Agent.Internal.Session;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent;

/// <summary>Everything a <see cref="DroverAgent"/> needs. Defaults are listed on each property;
/// the rules they must keep are <see cref="GetValidationErrors"/>, checked when the agent is constructed (<see cref="Validate"/>).</summary>
public sealed record AgentOptions
{
    private ushort? _jobSlots;
    private string? _workDirectory;

    /// <summary>The hubs this agent may use, as "host:port" (IPv6 as "[::1]:7400"). At least one.
    /// The agent picks one by rendezvous hashing of its id, and fails over to the next in that order.</summary>
    public IReadOnlyList<string> Hubs { get; init; } = [];

    /// <summary>This agent's id: 1 to 128 bytes of [A-Za-z0-9._:@-]. Default: <see cref="Environment.MachineName"/>, which two
    /// agents on one machine would share (they would replace each other at the hub): <c>drover agent</c> uses
    /// <see cref="AgentIdentity.LoadOrCreate"/> instead, an id made once and kept in a state directory.</summary>
    public string AgentId { get; init; } = Environment.MachineName;

    /// <summary>How the agent authenticates its hub before it sends anything (TLS against a CA or a pinned key, see
    /// <see cref="HubTrust"/>); <see cref="HubTrust.Insecure"/> for plain TCP. Default: <see cref="HubTrust.SystemRoots"/>
    /// (TLS, the machine's trusted roots), which a hub's own CA is not among: give its CA file or key fingerprint.</summary>
    public HubTrust Trust { get; init; } = HubTrust.SystemRoots;

    /// <summary>The credential sent in hello. Default: empty.</summary>
    public string Token { get; init; } = string.Empty;

    /// <summary>This agent's own secret, sent in hello: the hub binds <see cref="AgentId"/> to the first key it sees for it
    /// and refuses the id with any other key, so no one else with the token can take the id over (docs/protocol.md, Agent
    /// keys). <c>drover agent</c> keeps one in its state directory (<see cref="AgentIdentity.LoadOrCreateKey"/>). Default:
    /// empty, no key (the id can be taken over by anyone with the token, as before).</summary>
    public string AgentKey { get; init; } = string.Empty;

    /// <summary>Where the agent keeps its key, instead of <see cref="AgentKey"/>: with a store the agent rotates its key
    /// when the hub says it expires (after two thirds of its lifetime, in the session, without a reconnect). <c>drover
    /// agent</c> keeps its keys in its state directory (<see cref="AgentIdentity.OpenKeyStore"/>). Default: none (the
    /// fixed <see cref="AgentKey"/>, never rotated).</summary>
    public IAgentKeyStore? KeyStore { get; init; }

    /// <summary>Free-form labels sent in hello (used by the hub for placement). Default: none.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Capabilities sent in hello. Default: none.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];

    /// <summary>The agent's version string sent in hello. Default: the Drover.Agent assembly's version.</summary>
    public string AgentVersion { get; init; } = DefaultAgentVersion;

    /// <summary>How many jobs the agent runs at once, sent in hello (0 = it takes no jobs). More than 0 needs a
    /// <see cref="JobHandler"/>. Default: <see cref="Environment.ProcessorCount"/> when a handler is set, else 0.</summary>
    public ushort JobSlots
    {
        get => _jobSlots ?? (JobHandler is null ? (ushort)0 : (ushort)Math.Clamp(Environment.ProcessorCount, 1, ushort.MaxValue));
        init => _jobSlots = value;
    }

    /// <summary>Runs the jobs the hub sends (see <see cref="IJobHandler"/>; <see cref="ProcessJobHandler"/> runs a
    /// command). Default: none (the agent takes no jobs).</summary>
    public IJobHandler? JobHandler { get; init; }

    /// <summary>Where job directories are made, one per attempt (<c>&lt;WorkDirectory&gt;/&lt;job&gt;-&lt;attempt&gt;</c>);
    /// created at start when <see cref="JobSlots"/> &gt; 0. One agent per work directory. Default:
    /// <c>$XDG_STATE_HOME/drover/agent-&lt;id&gt;/work</c>, or <c>~/.local/state/drover/agent-&lt;id&gt;/work</c>.</summary>
    public string WorkDirectory
    {
        get => _workDirectory ?? DefaultWorkDirectory(AgentId);
        init => _workDirectory = value;
    }

    /// <summary>How many bytes of a handler's stdout and of its stderr go back with the result (the last ones),
    /// 0 to 1 MiB. Default: 4096.</summary>
    public int OutputTailBytes { get; init; } = 4096;

    /// <summary>The largest out file sent back with a result, 0 to 16 MiB; a larger one is not sent and the result's
    /// error says so. A result must also fit the hub's welcome.max_frame_size, which can lower this. Default: 1 MiB.</summary>
    public int MaxOutFileBytes { get; init; } = 1024 * 1024;

    /// <summary>How many finished jobs may wait for the hub's acknowledgement (running jobs count too). When that
    /// many are held the agent answers new jobs with job_busy until acknowledgements arrive; results are never
    /// dropped. 1 to 1,000,000. Default: 1000.</summary>
    public int MaxUnackedResults { get; init; } = 1000;

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

    /// <summary>The clock for every wait (report slots, backoff, connect, handshake and job timeouts) and for job
    /// durations. Only the short real-time bounds on I/O at the end of things are not on it: the bye at shutdown,
    /// the wait for killed handlers to exit, and a handler's output drain. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Used to create the loggers, one category per role under "Drover.Agent" (Drover.Agent.Internal.Session.HubSession, ...Reports.ReportLoop, ...Jobs.JobSlots, ...), when <see cref="Logger"/> is null. Default: none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The logger; takes precedence over <see cref="LoggerFactory"/>. Default: none (no logging).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The informational version of this assembly, without any "+commit" suffix.</summary>
    public static string DefaultAgentVersion { get; } = ReadAssemblyVersion();

    /// <summary>Throws <see cref="ArgumentException"/> with the first broken rule of <see cref="GetValidationErrors"/>
    /// (its parameter name is the property). <see cref="DroverAgent"/>'s constructor runs it.</summary>
    public void Validate()
    {
        var errors = GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException(errors[0].ErrorMessage, errors[0].MemberNames.FirstOrDefault());
        }
    }

    /// <summary>Every rule these options break, each with the names of the properties it concerns (several for a rule
    /// across settings); empty when they are valid. The one set of rules: <see cref="Validate"/> throws for the first, and a
    /// host's <c>IValidateOptions&lt;AgentOptions&gt;</c> (drover agent's) reports them all at start.</summary>
    public IReadOnlyList<ValidationResult> GetValidationErrors()
    {
        var errors = new List<ValidationResult>();
        void Fail(string message, params string[] members) => errors.Add(new ValidationResult(message, members));

        if (Hubs is null || Hubs.Count == 0)
        {
            Fail("at least one hub (\"host:port\") is required", nameof(Hubs));
        }
        else
        {
            foreach (var hub in Hubs)
            {
                if (!HubAddress.TryParse(hub, out _, out var error))
                {
                    Fail(error, nameof(Hubs));
                    break;
                }
            }
        }

        if (!AgentIds.IsValid(AgentId, out var reason))
        {
            Fail($"invalid agent id '{AgentId}': {reason}", nameof(AgentId));
        }

        if (Token is null)
        {
            Fail("token must not be null (use an empty string for none)", nameof(Token));
        }

        if (Trust is null)
        {
            Fail("trust must not be null (HubTrust.Insecure for plain TCP)", nameof(Trust));
        }

        if (Labels is null || Capabilities is null || AgentVersion is null)
        {
            Fail("labels, capabilities and agent version must not be null", nameof(Labels), nameof(Capabilities), nameof(AgentVersion));
        }
        else if (Labels.Any(label => string.IsNullOrEmpty(label.Key) || label.Value is null))
        {
            Fail("label keys must be non-empty and values non-null", nameof(Labels));
        }

        RequirePositive(errors, BackoffBase, nameof(BackoffBase));
        RequirePositive(errors, BackoffCap, nameof(BackoffCap));
        RequirePositive(errors, HandshakeTimeout, nameof(HandshakeTimeout));
        RequirePositive(errors, ConnectTimeout, nameof(ConnectTimeout));
        if (BackoffCap < BackoffBase)
        {
            Fail($"backoff cap ({BackoffCap}) must be at least the backoff base ({BackoffBase})", nameof(BackoffCap), nameof(BackoffBase));
        }

        if (StatusBacklog is < 0 or > 100_000)
        {
            Fail($"status backlog must be 0 to 100000, got {StatusBacklog}", nameof(StatusBacklog));
        }

        if (TimeProvider is null)
        {
            Fail("time provider must not be null", nameof(TimeProvider));
        }

        AddJobErrors(errors);
        if (errors.Count == 0)
        {
            // Only options valid so far make a hello (the id, token, labels and capabilities go into it).
            AddHelloError(errors);
        }

        return errors;
    }

    private void AddJobErrors(List<ValidationResult> errors)
    {
        void Fail(string message, params string[] members) => errors.Add(new ValidationResult(message, members));

        if (JobSlots > 0 && JobHandler is null)
        {
            Fail($"{JobSlots} job slots need a job handler (or set job slots to 0)", nameof(JobSlots), nameof(JobHandler));
        }

        if (OutputTailBytes is < 0 or > 1024 * 1024)
        {
            Fail($"output tail must be 0 to 1048576 bytes, got {OutputTailBytes}", nameof(OutputTailBytes));
        }

        if (MaxOutFileBytes is < 0 or > 16 * 1024 * 1024)
        {
            Fail($"max out file must be 0 to 16777216 bytes, got {MaxOutFileBytes}", nameof(MaxOutFileBytes));
        }

        if (MaxUnackedResults is < 1 or > 1_000_000)
        {
            Fail($"max unacked results must be 1 to 1000000, got {MaxUnackedResults}", nameof(MaxUnackedResults));
        }

        if (JobSlots > 0)
        {
            if (string.IsNullOrWhiteSpace(WorkDirectory) || WorkDirectory.Contains('\0', StringComparison.Ordinal))
            {
                Fail("the work directory must be a non-empty path", nameof(WorkDirectory));
                return;
            }

            try
            {
                _ = Path.GetFullPath(WorkDirectory);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                Fail($"the work directory '{WorkDirectory}' is not a valid path: {ex.Message}", nameof(WorkDirectory));
            }
        }
    }

    private void AddHelloError(List<ValidationResult> errors)
    {
        int helloSize;
        try
        {
            helloSize = CreateHello().PayloadSize;
        }
        catch (ProtocolException ex)
        {
            errors.Add(new ValidationResult($"hello cannot be encoded: {ex.Message}", [nameof(Labels), nameof(Capabilities)]));
            return;
        }

        if (helloSize > ProtocolConstants.MaxHelloFrameSize)
        {
            errors.Add(new ValidationResult(
                $"hello would be {helloSize} bytes; the limit is {ProtocolConstants.MaxHelloFrameSize} (fewer labels or capabilities)",
                [nameof(Labels), nameof(Capabilities)]));
        }
    }

    /// <summary>The default <see cref="WorkDirectory"/> for an agent id.</summary>
    public static string DefaultWorkDirectory(string agentId)
    {
        var stateHome = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        if (string.IsNullOrEmpty(stateHome) || !Path.IsPathRooted(stateHome))
        {
            stateHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        }

        return Path.Combine(stateHome, "drover", "agent-" + agentId, "work");
    }

    internal Hello CreateHello() => new(
        ProtocolConstants.MinVersion,
        ProtocolConstants.MaxVersion,
        AgentId,
        Token,
        AgentVersion,
        Labels,
        Capabilities,
        JobSlots,
        AgentKey);

    private static void RequirePositive(List<ValidationResult> errors, TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add(new ValidationResult($"{name} must be positive, got {value}", [name]));
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
