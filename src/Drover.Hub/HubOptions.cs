using System.ComponentModel.DataAnnotations;
using System.Net;
using Drover.Protocol;

namespace Drover.Hub;

/// <summary>Everything the hub can be told at start. Defaults are the production defaults; the rules they must keep
/// are <see cref="GetValidationErrors"/>, checked by <see cref="DroverHub"/>'s constructor (<see cref="Validate"/>).</summary>
public sealed record HubOptions
{
    /// <summary>Where agents connect (TCP). Default 0.0.0.0:7400; port 0 picks a free port.</summary>
    public IPEndPoint AgentEndPoint { get; init; } = new(IPAddress.Any, 7400);

    /// <summary>Where the HTTP API listens. Default 127.0.0.1:7401; null turns the API off.</summary>
    public IPEndPoint? HttpEndPoint { get; init; } = new(IPAddress.Loopback, 7401);

    /// <summary>This hub's name, given to agents in the welcome and stored with each agent. Default: the machine name.</summary>
    public string HubId { get; init; } = Environment.MachineName;

    /// <summary>A shared token that lets any agent in (its agent key, if it sends one, then binds its id on first use).
    /// Empty: none; agents then need a join token or their enrolled key, unless <see cref="OpenAgents"/>.</summary>
    public string Token { get; init; } = string.Empty;

    /// <summary>Let every agent in without a credential (its agent key, if it sends one, still binds its id on first use):
    /// only for a trusted network or tests. Default false: an agent needs its enrolled key, a join token or the shared
    /// <see cref="Token"/>.</summary>
    public bool OpenAgents { get; init; }

    /// <summary>How long an enrolled agent's key works after it was bound (enrolled or rotated); the agent rotates it after
    /// two thirds of that, in its session, without a reconnect. Zero: keys do not expire. Default 90 days. Keys bound on
    /// first use (the shared token, open agents) do not expire.</summary>
    public TimeSpan AgentKeyLifetime { get; init; } = TimeSpan.FromDays(90);

    /// <summary>How long a join token made without a lifetime lasts. Default 24 hours.</summary>
    public static TimeSpan DefaultJoinTokenLifetime => TimeSpan.FromHours(24);

    /// <summary>The report interval agents are given. Default 60 s.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The hub stretches the interval so that connected agents / interval stays at or below
    /// this many reports per second. Default 1,000.</summary>
    public int MaxReportsPerSecond { get; init; } = 1_000;

    /// <summary>How late a report may be before the agent is marked late. Default: a quarter of the
    /// current interval (it grows when the hub stretches the interval), at least 2 s.</summary>
    public TimeSpan? LateGrace { get; init; }

    /// <summary>An agent that missed this many reports in a row is marked lost and disconnected. Default 3.</summary>
    public int MissedReportsForLost { get; init; } = 3;

    /// <summary>A lost agent becomes stale after this long without contact. Default 1 hour.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromHours(1);

    /// <summary>A stale agent is retired (dropped from memory, kept in the store) after this long without contact. Default 7 days.</summary>
    public TimeSpan RetireAfter { get; init; } = TimeSpan.FromDays(7);

    /// <summary>A connection that has not sent a hello after this long is closed. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the liveness sweep runs. Default 1 s.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often coalesced status reports are written to the store. Default 1 s: a crash loses at most this much soft status.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Hellos admitted per second; those beyond it are refused with a retry-after spread over the
    /// following seconds (the reconnect storm after a restart). Default 10,000: about what this hub
    /// completes per second on 2 cores with new registrations, so a healthy hub is rarely throttled
    /// while a storm of 19,000 is still spread over two seconds.</summary>
    public int AdmitPerSecond { get; init; } = 10_000;

    /// <summary>Most status samples kept per agent in the store's history (0: no history). Default 2,000: a day of
    /// <see cref="KeepHistory"/> at one sample a minute (1,440) plus the last <see cref="HistoryFullRateFor"/> at a report
    /// every 10 s (360). Enforced hourly; <see cref="KeepHistory"/> and the downsampling every minute.</summary>
    public int HistoryPerAgent { get; init; } = 2_000;

    /// <summary>How long status history is kept: older samples are pruned. Default 1 day (about 183 KiB per agent at a report
    /// a minute: docs/operations.md, "Status history and events").</summary>
    public TimeSpan KeepHistory { get; init; } = TimeSpan.FromDays(1);

    /// <summary>How long history stays at the full rate (one sample per agent per flush it reported in); older samples are
    /// downsampled to one per agent per minute. Default 1 hour.</summary>
    public TimeSpan HistoryFullRateFor { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long agent events (sessions opened and closed, presence changes, credential decisions, id flaps) are
    /// kept. Default 7 days.</summary>
    public TimeSpan KeepEvents { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Largest frame payload accepted after the handshake. Default 64 KiB.</summary>
    public int MaxFrameSize { get; init; } = ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>Most free-form fields accepted in one status report. Default 64.</summary>
    public int MaxStatusFields { get; init; } = ProtocolConstants.DefaultMaxStatusFields;

    /// <summary>Most agents this hub admits (0: as many as the open-files limit allows). Default 0.</summary>
    public int MaxAgents { get; init; }

    /// <summary>Most agent-port connections held at once: sessions, connections without a hello yet, and closes
    /// lingering for the agent's side. 0 (default): the open-files limit less
    /// <see cref="Os.SystemLimits.ReservedDescriptors"/>; a larger number is lowered to that, so that a flood of
    /// connections can never take the descriptors the store, the API, logs and new threads need. A connection beyond
    /// it is accepted and reset at once.</summary>
    public int MaxConnections { get; init; }

    /// <summary>Most connections held that have not finished the handshake (no hello answered yet), within
    /// <see cref="MaxConnections"/>. A connection beyond it is accepted and reset at once. Default 10,000: an honest agent
    /// sends its hello right after connecting and leaves this set as soon as it is welcomed or refused (admission control
    /// refuses at once), so a storm stays far below it: 10,000 bench agents peaked at 266 pending while connecting and at
    /// 23 while reconnecting after a kill -9 of the hub, and those waiting to be accepted are bounded by
    /// <see cref="ListenBacklog"/>. Silent connections (a port scan, a flood) hold at most this many slots, each until
    /// <see cref="HandshakeTimeout"/>.</summary>
    public int MaxPendingHandshakes { get; init; } = 10_000;

    /// <summary>New agent-port connections per second from one source (an IPv4 address, or an IPv6 /64), a token bucket
    /// checked when the connection is accepted. Within it (and <see cref="ConnectionBurstPerSource"/>) a connection goes on
    /// as usual; beyond it the connection is given a moment in a queue of the source's own, one 1/rate after the previous
    /// one, and its hello is refused with <see cref="ErrorCode.RateLimited"/> and a retry-after that points at that moment
    /// (so the retry-after grows while the source keeps pushing); once the queue reaches a minute ahead, further
    /// connections from the source are reset at once. 0 turns the check off. Default 20: a site behind one NAT address
    /// whose 1,000 agents all reconnect after a hub restart is let in within 50 s (40 at once, then 20 a second, each
    /// refused agent told its own moment), while one client can no longer open thousands of connections a second
    /// (nginx's limit_req and limit_conn are the model; sources in <see cref="ConnectionRateExempt"/> are not limited).</summary>
    public int ConnectionRatePerSource { get; init; } = 20;

    /// <summary>Connections one source may open at once beyond <see cref="ConnectionRatePerSource"/> (the bucket's size).
    /// Default 40: two seconds' worth.</summary>
    public int ConnectionBurstPerSource { get; init; } = 40;

    /// <summary>Sources (CIDR ranges) that <see cref="ConnectionRatePerSource"/> does not apply to. Default loopback
    /// (127.0.0.0/8 and ::1, fail2ban's default <c>ignoreip</c>): connections from the hub's own machine come from a local
    /// proxy (which makes every agent look like one address), <c>drover bench</c> or <c>drover demo</c>, and whoever runs
    /// code there is past the agent port anyway. Empty: every source is limited. Failed authentications
    /// (<see cref="AuthFailuresAllowed"/>) are counted for every source, these included.</summary>
    public IReadOnlyList<IPNetwork> ConnectionRateExempt { get; init; } = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];

    /// <summary>Hellos with a wrong token one source (an IPv4 address, an IPv6 /64) may send before it is penalized: the
    /// next wrong one blocks it for 1 s, each later one for twice as long as the previous, up to
    /// <see cref="AuthPenaltyMax"/>; while blocked, every hello from the source is refused with
    /// <see cref="ErrorCode.RateLimited"/> and the time left, before its token is looked at (sshd's PerSourcePenalties and
    /// fail2ban are the model). A source's failures are forgotten 15 minutes after its last one. Default 5: an honest agent
    /// stops at its first AuthenticationFailed, so even several misconfigured agents behind one address rarely reach it.</summary>
    public int AuthFailuresAllowed { get; init; } = 5;

    /// <summary>The longest block for failed authentications (see <see cref="AuthFailuresAllowed"/>); zero turns the
    /// penalty off. Default 10 minutes (sshd's PerSourcePenalties max): a guesser gets about 15 tries in its first 17
    /// minutes, then one every 10 minutes.</summary>
    public TimeSpan AuthPenaltyMax { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Sessions one agent id may start within <see cref="FlapWindow"/>; the next hello is refused with
    /// <see cref="ErrorCode.RateLimited"/> and a retry-after of <see cref="FlapBan"/>, doubled for each further offence of
    /// that id (at most an hour; offences are forgotten an hour after the last ban ended). 0 turns it off. Default 15 in
    /// 1 minute, ban 5 minutes: EMQX's flapping detection (max_count 15, window 1m, ban_time 5m). An agent that is closed
    /// right after every welcome reconnects about twice a second; a healthy one reconnects a few times an hour.</summary>
    public int FlapMaxReconnects { get; init; } = 15;

    /// <summary>The window of <see cref="FlapMaxReconnects"/>. Default 1 minute.</summary>
    public TimeSpan FlapWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a flapping agent id is refused the first time (see <see cref="FlapMaxReconnects"/>). Default 5 minutes.</summary>
    public TimeSpan FlapBan { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Pending-connection queue length handed to listen(2). Default 4,096 (also capped by net.core.somaxconn).</summary>
    public int ListenBacklog { get; init; } = 4_096;

    /// <summary>The largest file a job may carry. Default 1 MiB; at most 16 MiB (<see cref="Storage.JobRecord.MaxContentBytes"/>).</summary>
    public int MaxFileSize { get; init; } = 1024 * 1024;

    /// <summary>The largest out file a job result may carry. Default 1 MiB.</summary>
    public int MaxResultSize { get; init; } = 1024 * 1024;

    /// <summary>Most jobs queued or running at once; a submission beyond it gets 503. Default 100,000.</summary>
    public int MaxQueuedJobs { get; init; } = 100_000;

    /// <summary>Most bytes of job files queued or running at once; a submission beyond it gets 503. Default 1 GiB.</summary>
    public long MaxQueuedBytes { get; init; } = 1L << 30;

    /// <summary>Most bytes of job files queued or running at once that one API token submitted, so that one caller cannot
    /// fill the queue (and the store's disk) alone; a submission beyond it gets 429 with Retry-After. Default 256 MiB, a quarter of <see cref="MaxQueuedBytes"/>'s default.</summary>
    public long MaxQueuedBytesPerToken { get; init; } = 256L << 20;

    /// <summary>Where the HTTP API spools uploaded files while their request is read (each file over 64 KiB goes to a file
    /// of its own here, not into memory; see <c>Http/UploadSpool.cs</c>). Files are deleted when their request ends, and
    /// any left from an earlier run (a crash) when the hub starts, so the directory must belong to this hub alone
    /// (<c>drover serve</c>: <c>DATA/uploads</c>). Null: a new directory under the system's temporary directory, made at
    /// start and deleted at stop.</summary>
    public string? UploadDirectory { get; init; }

    /// <summary>How long a running job's lease outlives its timeout before the hub gives the attempt up
    /// (the agent's time to kill the handler and report). Default 10 s.</summary>
    public TimeSpan LeaseGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the jobs of an agent that disconnected stay leased to it, waiting for it to come back
    /// and re-announce them, before they go back to the queue. Default 30 s.</summary>
    public TimeSpan DisconnectGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a finished job (done, dead or cancelled) is kept, counted from when it finished: its record,
    /// file, result (tails and out file) and attempt history. Older ones are deleted by the sweep, once a minute; the
    /// API then answers 404 for them as for an unknown job. Default 24 hours (Nomad keeps terminal jobs 4 hours); must be positive.</summary>
    public TimeSpan KeepFinishedJobs { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long an audit log entry is kept. Older ones are deleted at the hub's start and, at most once an hour,
    /// when an operator's action is recorded. Default 365 days; must be positive.</summary>
    public TimeSpan KeepAudit { get; init; } = TimeSpan.FromDays(365);

    /// <summary>The clock. Tests pass a FakeTimeProvider.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The certificate the agent port presents: every agent connection is TLS. Null: plain TCP, nothing
    /// authenticated or encrypted (<c>drover serve --insecure</c>; the library's default, since a library hub has no
    /// data directory to keep a certificate in). Owned by the caller, who disposes it after the hub.</summary>
    public Security.HubTlsIdentity? Tls { get; init; }

    /// <summary>An admin API token (the text of <see cref="Api.ApiTokenText"/>) that this hub accepts from its start: for
    /// automation that provisions the hub and its operators together (<c>drover serve --admin-token</c> or
    /// <c>DROVER_ADMIN_TOKEN</c>; <c>drover tokens generate</c> makes one). Stored (its hash) at start. Null: none.</summary>
    public string? AdminToken { get; init; }

    /// <summary>Where the hub keeps its bootstrap admin token (drover serve: <c>DATA/admin.token</c>, mode 0600): made at the
    /// first start, and made anew (the old one revoked) at a start that finds the file missing. Null: no bootstrap token
    /// (a library hub's owner makes tokens with <see cref="DroverHub.CreateApiTokenAsync"/>).</summary>
    public string? AdminTokenFile { get; init; }

    /// <summary>The DNS names the HTTP API answers to (its <c>Host</c> header) besides <c>localhost</c> and the machine's
    /// name; any IP address is accepted. A request for another name is refused (400): a web page whose name was rebound to
    /// this hub's address (DNS rebinding) cannot reach the API.</summary>
    public IReadOnlyList<string> ApiHostNames { get; init; } = [];

    /// <summary>The frame cap for a session of an agent with job slots: its results carry out files up to
    /// <see cref="MaxResultSize"/> plus 64 KiB of tails and metadata.</summary>
    internal int JobAgentMaxFrameSize => Math.Max(MaxFrameSize, MaxResultSize + (64 * 1024));

    /// <summary>The largest job frame the hub sends: the largest file plus 64 KiB of metadata.</summary>
    internal int MaxJobFrameSize => MaxFileSize + (64 * 1024);

    internal TimeSpan EffectiveLateGrace => LateGraceFor(ReportInterval);

    internal TimeSpan LateGraceFor(TimeSpan interval) => LateGrace ?? TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(2).Ticks, interval.Ticks / 4));

    /// <summary>Throws <see cref="ArgumentException"/> with the first broken rule of <see cref="GetValidationErrors"/>.
    /// <see cref="DroverHub"/>'s constructor runs it.</summary>
    public void Validate()
    {
        var errors = GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException(errors[0].ErrorMessage);
        }
    }

    /// <summary>Every rule these options break, each with the names of the properties it concerns (several for a rule
    /// across settings); empty when they are valid. The one set of rules: <see cref="Validate"/> throws for the first, and a
    /// host's <c>IValidateOptions&lt;HubOptions&gt;</c> (drover serve's) reports them all at start.</summary>
    public IReadOnlyList<ValidationResult> GetValidationErrors()
    {
        var errors = new List<ValidationResult>();
        void Require(bool condition, string message, params string[] members)
        {
            if (!condition)
            {
                errors.Add(new ValidationResult(message, members));
            }
        }

        Require(ReportInterval >= TimeSpan.FromMilliseconds(100) && ReportInterval <= TimeSpan.FromHours(24), $"report interval must be between 100 ms and 24 h, got {ReportInterval}", nameof(ReportInterval));
        Require(MaxReportsPerSecond > 0, $"max reports per second must be positive, got {MaxReportsPerSecond}", nameof(MaxReportsPerSecond));
        Require(MissedReportsForLost >= 1, $"missed reports for lost must be at least 1, got {MissedReportsForLost}", nameof(MissedReportsForLost));
        Require(StaleAfter > TimeSpan.Zero && RetireAfter > StaleAfter, "retire age must be longer than the stale age, and both positive", nameof(StaleAfter), nameof(RetireAfter));
        Require(HandshakeTimeout > TimeSpan.Zero, "handshake timeout must be positive", nameof(HandshakeTimeout));
        Require(SweepInterval > TimeSpan.Zero, "sweep interval must be positive", nameof(SweepInterval));
        Require(FlushInterval > TimeSpan.Zero, "flush interval must be positive", nameof(FlushInterval));
        Require(AdmitPerSecond > 0, $"admit rate must be positive, got {AdmitPerSecond}", nameof(AdmitPerSecond));
        Require(HistoryPerAgent >= 0, "history per agent cannot be negative", nameof(HistoryPerAgent));
        Require(KeepHistory > TimeSpan.Zero, "history must be kept for a positive time", nameof(KeepHistory));
        Require(HistoryFullRateFor >= TimeSpan.Zero && HistoryFullRateFor <= KeepHistory, "the full-rate history span must be between 0 and the time history is kept", nameof(HistoryFullRateFor));
        Require(KeepEvents > TimeSpan.Zero, "agent events must be kept for a positive time", nameof(KeepEvents));
        Require(MaxFrameSize >= 1024 && MaxFrameSize <= 16 * 1024 * 1024, $"max frame size must be between 1 KiB and 16 MiB, got {MaxFrameSize}", nameof(MaxFrameSize));
        Require(MaxStatusFields is > 0 and <= ushort.MaxValue, $"max status fields must be 1-65535, got {MaxStatusFields}", nameof(MaxStatusFields));
        Require(MaxAgents >= 0, "max agents cannot be negative", nameof(MaxAgents));
        Require(MaxConnections >= 0, $"max connections cannot be negative (0: from the open-files limit), got {MaxConnections}", nameof(MaxConnections));
        Require(MaxPendingHandshakes >= 1, $"max pending handshakes must be at least 1, got {MaxPendingHandshakes}", nameof(MaxPendingHandshakes));
        Require(ConnectionRatePerSource >= 0, $"connection rate per source cannot be negative (0: off), got {ConnectionRatePerSource}", nameof(ConnectionRatePerSource));
        Require(ConnectionBurstPerSource >= 1, $"connection burst per source must be at least 1, got {ConnectionBurstPerSource}", nameof(ConnectionBurstPerSource));
        Require(ConnectionRateExempt is not null, "the exempt sources must not be null (empty: none)", nameof(ConnectionRateExempt));
        Require(AuthFailuresAllowed >= 0, $"auth failures allowed cannot be negative, got {AuthFailuresAllowed}", nameof(AuthFailuresAllowed));
        Require(AuthPenaltyMax >= TimeSpan.Zero && AuthPenaltyMax <= TimeSpan.FromDays(1), $"auth penalty max must be between 0 (off) and 24h, got {AuthPenaltyMax}", nameof(AuthPenaltyMax));
        Require(FlapMaxReconnects >= 0, $"flap max reconnects cannot be negative (0: off), got {FlapMaxReconnects}", nameof(FlapMaxReconnects));
        Require(FlapWindow > TimeSpan.Zero && FlapWindow <= TimeSpan.FromHours(1), $"flap window must be between 1 ms and 1h, got {FlapWindow}", nameof(FlapWindow));
        Require(FlapBan > TimeSpan.Zero && FlapBan <= TimeSpan.FromHours(1), $"flap ban must be between 1 ms and 1h, got {FlapBan}", nameof(FlapBan));
        Require(!string.IsNullOrWhiteSpace(HubId), "hub id cannot be empty", nameof(HubId));
        Require(MaxFileSize >= 1 && MaxFileSize <= Storage.JobRecord.MaxContentBytes, $"max file size must be between 1 byte and 16 MiB, got {MaxFileSize}", nameof(MaxFileSize));
        Require(MaxResultSize >= 0 && MaxResultSize <= Storage.JobRecord.MaxContentBytes, $"max result size must be between 0 and 16 MiB, got {MaxResultSize}", nameof(MaxResultSize));
        Require(MaxQueuedJobs >= 1, $"max queued jobs must be at least 1, got {MaxQueuedJobs}", nameof(MaxQueuedJobs));
        Require(MaxQueuedBytes >= MaxFileSize, $"max queued bytes ({MaxQueuedBytes}) must be at least the max file size ({MaxFileSize})", nameof(MaxQueuedBytes), nameof(MaxFileSize));
        Require(MaxQueuedBytesPerToken >= MaxFileSize, $"max queued bytes per token ({MaxQueuedBytesPerToken}) must be at least the max file size ({MaxFileSize})", nameof(MaxQueuedBytesPerToken), nameof(MaxFileSize));
        Require(LeaseGrace >= TimeSpan.Zero, $"lease grace cannot be negative, got {LeaseGrace}", nameof(LeaseGrace));
        Require(DisconnectGrace >= TimeSpan.Zero, $"disconnect grace cannot be negative, got {DisconnectGrace}", nameof(DisconnectGrace));
        Require(KeepFinishedJobs > TimeSpan.Zero, $"keep-finished must be positive (finished jobs are kept at least that long), got {KeepFinishedJobs}", nameof(KeepFinishedJobs));
        Require(KeepAudit > TimeSpan.Zero, $"keep-audit must be positive, got {KeepAudit}", nameof(KeepAudit));
        Require(TimeProvider is not null, "time provider must not be null", nameof(TimeProvider));
        Require(AdminToken is null || Api.ApiTokenText.TryParse(AdminToken, out _, out _), "the admin token is not a Drover API token (drover tokens generate makes one)", nameof(AdminToken));
        Require(AgentKeyLifetime == TimeSpan.Zero || AgentKeyLifetime >= TimeSpan.FromMinutes(1), $"agent key lifetime must be 0 (no expiry) or at least 1 minute, got {AgentKeyLifetime}", nameof(AgentKeyLifetime));
        Require(!OpenAgents || Token.Length == 0, "open agents let every agent in without a credential; a shared token would change nothing: choose one", nameof(OpenAgents), nameof(Token));
        Require(HttpEndPoint is null || IPAddress.IsLoopback(HttpEndPoint.Address) || Tls is not null, $"the HTTP API listens beyond loopback ({HttpEndPoint}) only with TLS", nameof(HttpEndPoint), nameof(Tls));
        return errors;
    }
}
