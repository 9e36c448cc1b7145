using Drover.Api;
using Drover.Hub;
using S = Drover.Cli.Configuration.Settings<Drover.Cli.Configuration.ServeConfig>;

namespace Drover.Cli.Configuration;

/// <summary>What <c>drover serve</c> runs with: the hub's options plus what only the CLI knows (data directory, logging).
/// A default-constructed one holds every default.</summary>
internal sealed record ServeConfig
{
    public HubOptions Hub { get; init; } = new();

    /// <summary>The data directory; the SQLite file (WAL) lives inside.</summary>
    public string DataDirectory { get; init; } = "./drover-data";

    public LoggingConfig Logging { get; init; } = new();

    /// <summary>Plain TCP on the agent port: no TLS.</summary>
    public bool Insecure { get; init; }

    /// <summary>The operator's certificate (PEM, server certificate first) for the agent port; none: the hub's own.</summary>
    public string? TlsCertificate { get; init; }

    /// <summary>The private key of <see cref="TlsCertificate"/> (PEM).</summary>
    public string? TlsKey { get; init; }

    /// <summary>Names (DNS or IP) the hub's own certificate carries besides the machine name, localhost and loopback.</summary>
    public IReadOnlyList<string> TlsNames { get; init; } = [];

    /// <summary>DNS names the API answers to besides localhost, the machine name and the <see cref="TlsNames"/>.</summary>
    public IReadOnlyList<string> HttpHosts { get; init; } = [];
}

/// <summary>The settings catalog of <c>drover serve</c> (JSON section <c>hub</c>).</summary>
internal static class ServeSettings
{
    public static SettingsCatalog<ServeConfig> Catalog { get; } = new("serve", "hub", Create(), Complete, new Dictionary<string, string>
    {
        [nameof(HubOptions.AgentEndPoint)] = "listen",
        [nameof(HubOptions.HttpEndPoint)] = "http",
        [nameof(HubOptions.ReportInterval)] = "interval",
        [nameof(HubOptions.AdmitPerSecond)] = "admit-rate",
        [nameof(HubOptions.KeepFinishedJobs)] = "keep-finished",
        [nameof(HubOptions.HistoryFullRateFor)] = "history-full-rate",
        [nameof(HubOptions.ConnectionRatePerSource)] = "connection-rate",
        [nameof(HubOptions.ConnectionBurstPerSource)] = "connection-burst",
        [nameof(HubOptions.ConnectionRateExempt)] = "connection-rate-exempt",
    });

    /// <summary>The rules of <see cref="HubOptions"/> as drover serve's options validator, naming the settings of
    /// <paramref name="loaded"/> in its lines.</summary>
    public static SettingsValidator<ServeConfig, HubOptions> Validator(LoadedSettings<ServeConfig> loaded) =>
        new(loaded, static hub => [.. hub.GetValidationErrors().Where(error => !error.MemberNames.Contains(nameof(HubOptions.Tls)))]); // TLS: Complete's rule

    /// <summary>The bootstrap admin token's file in the data directory.</summary>
    public const string AdminTokenFileName = "admin.token";

    /// <summary>Where the HTTP API spools uploaded files (<see cref="HubOptions.UploadDirectory"/>), in the data directory.</summary>
    public const string UploadDirectoryName = "uploads";

    private static Setting<ServeConfig>[] Create() =>
    [
        S.Of("listen", "HOST:PORT", "Where agents connect (TCP; port 0 picks a free port)", ValueParsers.EndPoint,
            o => o.Hub.AgentEndPoint, (o, v) => o with { Hub = o.Hub with { AgentEndPoint = v } }, v => v.ToString()),
        S.Of("http", "HOST:PORT or off", "Where the HTTP API listens: HTTPS with the agent port's certificate (plain HTTP with --insecure, then on loopback only); 'off' disables it", ValueParsers.EndPointOrOff,
            o => o.Hub.HttpEndPoint, (o, v) => o with { Hub = o.Hub with { HttpEndPoint = v } }, v => v?.ToString() ?? "off"),
        S.Text("data", "path", "Data directory; the SQLite file (WAL) lives inside",
            o => o.DataDirectory, (o, v) => o with { DataDirectory = v }),
        S.Text("hub-id", "text", "This hub's name, given to agents in the welcome and stored with each agent",
            o => o.Hub.HubId, (o, v) => o with { Hub = o.Hub with { HubId = v } }, defaultInWords: "the machine name"),
        S.Switch("insecure", "Plain TCP on the agent port and plain HTTP on the API: no TLS, so agents cannot authenticate the hub and everything, tokens included, crosses the network in clear (loopback tests only; the API must then stay on loopback; a warning is logged)",
            o => o.Insecure, (o, v) => o with { Insecure = v }),
        S.Text("tls-cert", "path", "The agent port's certificate (PEM: the server certificate, then its chain) instead of the hub's own",
            o => o.TlsCertificate, (o, v) => o with { TlsCertificate = v }, defaultInWords: "the hub's own, made in DATA/tls"),
        S.Text("tls-key", "path", "The private key of --tls-cert (PEM)",
            o => o.TlsKey, (o, v) => o with { TlsKey = v }),
        S.List("tls-name", "name", "A DNS name or IP address agents dial, put in the hub's own certificate besides the machine name, localhost, 127.0.0.1 and ::1; repeat for several",
            o => o.TlsNames, (o, v) => o with { TlsNames = v }),
        S.List("http-host", "name", "A DNS name operators reach the HTTP API by (its Host header), besides localhost, the machine name and every --tls-name; requests for other names are refused (DNS rebinding). IP addresses are always accepted; repeat for several",
            o => o.HttpHosts, (o, v) => o with { HttpHosts = v }),
        S.Text("admin-token", "token", "An admin API token the hub accepts from its start, for automation (drover tokens generate makes one; prefer DROVER_ADMIN_TOKEN or the config file to the flag, which other users can see in ps)",
            o => o.Hub.AdminToken, (o, v) => o with { Hub = o.Hub with { AdminToken = string.IsNullOrEmpty(v) ? null : v } }, defaultInWords: "none; the bootstrap token is in DATA/admin.token"),
        S.Text("token", "text", "A shared token that lets any agent in (its agent key then binds its id on first use). Without it agents enroll with join tokens (drover tokens create --join) and come back with their own keys",
            o => o.Hub.Token, (o, v) => o with { Hub = o.Hub with { Token = v } }, defaultInWords: "none"),
        S.Duration("agent-key-lifetime", "How long an enrolled agent's key works after it was bound; agents rotate it after two thirds of that, in their sessions (0: keys do not expire)",
            o => o.Hub.AgentKeyLifetime, (o, v) => o with { Hub = o.Hub with { AgentKeyLifetime = v } }),
        S.Switch("open-agents", "Let every agent in without any credential (its agent key, if it sends one, still binds its id on first use): for a trusted network or tests only; a warning is logged",
            o => o.Hub.OpenAgents, (o, v) => o with { Hub = o.Hub with { OpenAgents = v } }),
        S.Duration("interval", "Status report interval given to agents (100ms to 24h)",
            o => o.Hub.ReportInterval, (o, v) => o with { Hub = o.Hub with { ReportInterval = v } }),
        S.Int("max-reports-per-second", "The hub stretches the interval so that agents / interval stays under this rate",
            o => o.Hub.MaxReportsPerSecond, (o, v) => o with { Hub = o.Hub with { MaxReportsPerSecond = v } }),
        S.Of("late-grace", "duration", "How late a report may be before the agent is marked late", ValueParsers.Duration,
            o => o.Hub.LateGrace ?? TimeSpan.Zero, (o, v) => o with { Hub = o.Hub with { LateGrace = v } }, DurationText.Format,
            defaultInWords: "a quarter of the current interval, at least 2s"),
        S.Int("missed-reports-for-lost", "An agent that missed this many reports in a row is marked lost and disconnected",
            o => o.Hub.MissedReportsForLost, (o, v) => o with { Hub = o.Hub with { MissedReportsForLost = v } }),
        S.Duration("stale-after", "A lost agent becomes stale after this long without contact",
            o => o.Hub.StaleAfter, (o, v) => o with { Hub = o.Hub with { StaleAfter = v } }),
        S.Duration("retire-after", "A stale agent is retired (hidden from listings, kept in the store) after this long without contact",
            o => o.Hub.RetireAfter, (o, v) => o with { Hub = o.Hub with { RetireAfter = v } }),
        S.Duration("handshake-timeout", "A connection that has sent no hello after this long is closed",
            o => o.Hub.HandshakeTimeout, (o, v) => o with { Hub = o.Hub with { HandshakeTimeout = v } }),
        S.Duration("sweep-interval", "How often the liveness sweep runs",
            o => o.Hub.SweepInterval, (o, v) => o with { Hub = o.Hub with { SweepInterval = v } }),
        S.Duration("flush-interval", "How often coalesced status reports are written to the store (a crash loses at most this much status)",
            o => o.Hub.FlushInterval, (o, v) => o with { Hub = o.Hub with { FlushInterval = v } }),
        S.Int("admit-rate", "Hellos admitted per second; beyond it agents get a spread retry-after",
            o => o.Hub.AdmitPerSecond, (o, v) => o with { Hub = o.Hub with { AdmitPerSecond = v } }),
        S.Int("max-agents", "Most agents held (0: as many as the open-files limit allows)",
            o => o.Hub.MaxAgents, (o, v) => o with { Hub = o.Hub with { MaxAgents = v } }),
        S.Int("max-connections", "Most agent-port connections held at once (sessions, handshakes, closing); beyond it a new one is reset at once. 0: the open-files limit less 512 descriptors kept for the store, the API, logs and runtime threads (a larger value is lowered to that)",
            o => o.Hub.MaxConnections, (o, v) => o with { Hub = o.Hub with { MaxConnections = v } }),
        S.Int("max-pending-handshakes", "Most connections that have not finished the handshake (within --max-connections); beyond it a new one is reset at once. Silent connections hold a slot until --handshake-timeout",
            o => o.Hub.MaxPendingHandshakes, (o, v) => o with { Hub = o.Hub with { MaxPendingHandshakes = v } }),
        S.Int("connection-rate", "New agent-port connections per second from one source (an IPv4 address, an IPv6 /64); beyond it (and --connection-burst) a connection's hello is refused with RateLimited and a retry-after that grows while the source keeps connecting, and once that reaches a minute its connections are reset at once. 0: off",
            o => o.Hub.ConnectionRatePerSource, (o, v) => o with { Hub = o.Hub with { ConnectionRatePerSource = v } }),
        S.Int("connection-burst", "Connections one source may open at once beyond --connection-rate",
            o => o.Hub.ConnectionBurstPerSource, (o, v) => o with { Hub = o.Hub with { ConnectionBurstPerSource = v } }),
        ExemptSources(),
        S.Int("auth-failures-allowed", "Hellos with a wrong token one source may send before it is blocked: 1s, then twice as long for each further one, up to --auth-penalty-max; a blocked source's hellos are refused with RateLimited whatever their token. Failures are forgotten 15 minutes after the last",
            o => o.Hub.AuthFailuresAllowed, (o, v) => o with { Hub = o.Hub with { AuthFailuresAllowed = v } }),
        S.Duration("auth-penalty-max", "The longest block for wrong tokens (0: no blocks)",
            o => o.Hub.AuthPenaltyMax, (o, v) => o with { Hub = o.Hub with { AuthPenaltyMax = v } }),
        S.Int("flap-max-reconnects", "Sessions one agent id may start within --flap-window; the next hello is refused with RateLimited for --flap-ban, doubled for each further offence (at most 1h). 0: off",
            o => o.Hub.FlapMaxReconnects, (o, v) => o with { Hub = o.Hub with { FlapMaxReconnects = v } }),
        S.Duration("flap-window", "The window of --flap-max-reconnects (at most 1h)",
            o => o.Hub.FlapWindow, (o, v) => o with { Hub = o.Hub with { FlapWindow = v } }),
        S.Duration("flap-ban", "How long a flapping agent id is refused the first time (at most 1h)",
            o => o.Hub.FlapBan, (o, v) => o with { Hub = o.Hub with { FlapBan = v } }),
        S.Int("listen-backlog", "Pending-connection queue length handed to listen(2) (also capped by net.core.somaxconn)",
            o => o.Hub.ListenBacklog, (o, v) => o with { Hub = o.Hub with { ListenBacklog = v } }),
        S.Int("history-per-agent", "Most status samples kept per agent in the store's history (0: no history); checked hourly",
            o => o.Hub.HistoryPerAgent, (o, v) => o with { Hub = o.Hub with { HistoryPerAgent = v } }),
        S.Duration("keep-history", "How long status history is kept (older samples are pruned every minute)",
            o => o.Hub.KeepHistory, (o, v) => o with { Hub = o.Hub with { KeepHistory = v } }),
        S.Duration("history-full-rate", "How long status history stays at the full rate; older samples are downsampled to one per agent per minute (at most --keep-history)",
            o => o.Hub.HistoryFullRateFor, (o, v) => o with { Hub = o.Hub with { HistoryFullRateFor = v } }),
        S.Duration("keep-events", "How long agent events (sessions opened and closed, presence changes, credential decisions, id flaps) are kept",
            o => o.Hub.KeepEvents, (o, v) => o with { Hub = o.Hub with { KeepEvents = v } }),
        S.IntSize("max-frame-size", "Largest frame payload accepted after the handshake (1KiB to 16MiB)",
            o => o.Hub.MaxFrameSize, (o, v) => o with { Hub = o.Hub with { MaxFrameSize = v } }),
        S.Int("max-status-fields", "Most free-form fields accepted in one status report (1 to 65535)",
            o => o.Hub.MaxStatusFields, (o, v) => o with { Hub = o.Hub with { MaxStatusFields = v } }),
        S.IntSize("max-file-size", "Largest file a job may carry (at most 16MiB)",
            o => o.Hub.MaxFileSize, (o, v) => o with { Hub = o.Hub with { MaxFileSize = v } }),
        S.IntSize("max-result-size", "Largest out file a job result may carry (at most 16MiB)",
            o => o.Hub.MaxResultSize, (o, v) => o with { Hub = o.Hub with { MaxResultSize = v } }),
        S.Int("max-queued-jobs", "Most jobs queued or running at once (beyond it submissions get 503 + Retry-After)",
            o => o.Hub.MaxQueuedJobs, (o, v) => o with { Hub = o.Hub with { MaxQueuedJobs = v } }),
        S.Size("max-queued-bytes", "Most bytes of job files queued or running at once",
            o => o.Hub.MaxQueuedBytes, (o, v) => o with { Hub = o.Hub with { MaxQueuedBytes = v } }),
        S.Size("max-queued-bytes-per-token", "Most bytes of job files queued or running at once that one API token submitted (beyond it submissions get 429 + Retry-After)",
            o => o.Hub.MaxQueuedBytesPerToken, (o, v) => o with { Hub = o.Hub with { MaxQueuedBytesPerToken = v } }),
        S.Duration("lease-grace", "How long a running job's lease outlives its timeout",
            o => o.Hub.LeaseGrace, (o, v) => o with { Hub = o.Hub with { LeaseGrace = v } }),
        S.Duration("disconnect-grace", "How long a disconnected agent's jobs wait for it before they are requeued",
            o => o.Hub.DisconnectGrace, (o, v) => o with { Hub = o.Hub with { DisconnectGrace = v } }),
        S.Duration("keep-finished", "How long finished jobs (with their files and results) are kept after they finish",
            o => o.Hub.KeepFinishedJobs, (o, v) => o with { Hub = o.Hub with { KeepFinishedJobs = v } }),
        S.Duration("keep-audit", "How long audit log entries (who submitted, cancelled, made or revoked what) are kept",
            o => o.Hub.KeepAudit, (o, v) => o with { Hub = o.Hub with { KeepAudit = v } }),
        ..LoggingSettings.For<ServeConfig>(o => o.Logging, (o, v) => o with { Logging = v }),
    ];

    /// <summary>--connection-rate-exempt: CIDR ranges (a bare address is one host), or <c>none</c>.</summary>
    private static Setting<ServeConfig> ExemptSources() => new()
    {
        Name = "connection-rate-exempt",
        ValueKind = "CIDR",
        Meaning = "Sources --connection-rate does not apply to (a range such as 10.1.0.0/16, or an address); repeat for several, 'none' for no exemption. Wrong tokens count for every source",
        Kind = SettingKind.List,
        Default = o => o.Hub.ConnectionRateExempt.Count > 0 ? string.Join(",", o.Hub.ConnectionRateExempt) : "none",
        Apply = (o, values) =>
        {
            var networks = new List<System.Net.IPNetwork>();
            foreach (var value in values)
            {
                if (value.Equals("none", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (System.Net.IPNetwork.TryParse(value, out var network))
                {
                    networks.Add(network);
                }
                else if (System.Net.IPAddress.TryParse(value, out var address))
                {
                    networks.Add(new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
                }
                else
                {
                    return (o, $"'{value}' is not an address range such as 10.1.0.0/16 or fd00::/8, an address, or 'none'");
                }
            }

            return (o with { Hub = o.Hub with { ConnectionRateExempt = networks } }, null);
        },
    };

    /// <summary>The CLI's own rule (a data directory); the rules of <see cref="HubOptions"/> run at the host's start
    /// (<see cref="Validator"/>).</summary>
    private static (ServeConfig Options, string? Error) Complete(ServeConfig config)
    {
        if (string.IsNullOrWhiteSpace(config.DataDirectory))
        {
            return (config, "the data directory cannot be empty");
        }

        if ((config.TlsCertificate is null) != (config.TlsKey is null))
        {
            return (config, "--tls-cert and --tls-key go together");
        }

        if (config.Insecure && (config.TlsCertificate is not null || config.TlsNames.Count > 0))
        {
            return (config, "--insecure turns TLS off: it cannot go with --tls-cert, --tls-key or --tls-name");
        }

        if (config.Insecure && config.Hub.HttpEndPoint is { } http && !System.Net.IPAddress.IsLoopback(http.Address))
        {
            return (config, $"--http {http} is beyond loopback, where the API listens only with TLS, and --insecure turns TLS off");
        }

        try
        {
            var data = Path.GetFullPath(config.DataDirectory);
            var hub = config.Hub with
            {
                AdminTokenFile = Path.Combine(data, AdminTokenFileName),
                UploadDirectory = Path.Combine(data, UploadDirectoryName),
                ApiHostNames = [.. config.TlsNames.Concat(config.HttpHosts).Distinct(StringComparer.OrdinalIgnoreCase)],
            };
            return (config with { DataDirectory = data, Hub = hub }, null);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return (config, $"the data directory is not a valid path: {ex.Message}");
        }
    }
}
