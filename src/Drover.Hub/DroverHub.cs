using System.Net;
using Drover.Hub.Connections;
using Drover.Hub.Fleet;
using Drover.Hub.Http;
using Drover.Hub.Security;
using Drover.Hub.Jobs;
using Drover.Hub.Metrics;
using Drover.Hub.Status;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Drover.Hub;

/// <summary>The hub, as the composition root of its roles: the agent port and sessions (Connections/), the
/// registry, liveness sweep, schedule and admission (Fleet/), the status write-behind (Status/), the job
/// dispatcher (Jobs/) and the HTTP API (Http/). It constructs them, starts them in order and stops them.
/// The HTTP API is served either by the hub itself, on a private app listening on <see cref="HubOptions.HttpEndPoint"/>
/// (tests, demo, bench), or by a host's app (drover serve): see <see cref="HostedApi"/>.</summary>
public sealed partial class DroverHub : IAsyncDisposable
{
    private readonly IFleetStore _store;
    private readonly IJobStore _jobStore;
    private readonly ILogger _logger;
    private readonly FleetView _fleetView;
    private readonly AgentAcceptLoop _acceptLoop;
    private readonly HubApiParts _apiParts;
    private readonly UploadDirectory _uploads;
    private readonly HubMetrics _metrics; // the hub's instruments (docs/operations.md, Metrics), on a meter of its own
    private readonly MetricsExporter _metricsExporter;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private Task? _jobWriterLoop;
    private WebApplication? _api;
    private int _stopped;
    private readonly IAccessStore _accessStore;
    private bool _storesOpen;
    private volatile bool _started;

    /// <summary>A hub over <paramref name="store"/> (agents and status), <paramref name="jobStore"/> (jobs) and
    /// <paramref name="accessStore"/> (API tokens and the audit log); the SQLite stores may share one file.</summary>
    public DroverHub(HubOptions options, IFleetStore store, IJobStore jobStore, IAccessStore accessStore, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(jobStore);
        ArgumentNullException.ThrowIfNull(accessStore);
        options.Validate();
        Options = options;
        _store = store;
        _jobStore = jobStore;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger<DroverHub>();
        Time = options.TimeProvider;
        Registry = new AgentRegistry(Time);
        Stats = new FleetStats(Time);
        Schedule = new ReportSchedule(options.ReportInterval, options.MaxReportsPerSecond);
        _metrics = new HubMetrics(Schedule);
        Admission = new AdmissionControl(options.AdmitPerSecond, Time);
        Writer = new StatusWriter(Registry, store, options, LoggerFactory.CreateLogger<StatusWriter>(), _metrics);
        Jobs = new JobDispatcher(jobStore, options, LoggerFactory, _metrics);
        AgentKeys = new AgentKeys(accessStore, Time, LoggerFactory.CreateLogger<AgentKeys>(), options.AgentKeyLifetime);
        Tokens = new ApiTokens(accessStore, Time);
        Sessions = new AgentSessions(options, Registry, Stats, Schedule, Admission, Writer, Jobs, new ConnectionLimits(), _metrics, LoggerFactory.CreateLogger<AgentSessions>())
        {
            AgentKeys = AgentKeys,
            JoinTokens = Tokens,
        };
        Liveness = new LivenessSweep(options, Registry, Stats, Schedule, Admission, Sessions, Jobs, LoggerFactory.CreateLogger<LivenessSweep>());
        _fleetView = new FleetView(options, Registry, Stats, Schedule, Admission, Liveness, Sessions);
        _acceptLoop = new AgentAcceptLoop(Sessions, Time);
        _accessStore = accessStore;
        Audit = new AuditLog(accessStore, options.KeepAudit, Time, LoggerFactory.CreateLogger("Drover.Hub.Audit"));
        var gate = new ApiGate(options, Tokens, LoggerFactory.CreateLogger<ApiGate>());
        _uploads = new UploadDirectory(options.UploadDirectory);
        _metrics.Observe(_fleetView, Jobs);
        _metricsExporter = new MetricsExporter(_metrics, options.HubId);
        var jobControl = new DispatcherJobControl(Jobs);
        _apiParts = new HubApiParts(options, _fleetView, store, jobStore, jobControl, Tokens, Audit, gate, _uploads)
        {
            AgentKeys = AgentKeys,
            CloseSessionOf = id => SessionKeys.CloseRevoked(Registry, Sessions.Logger, id),
            Metrics = _metricsExporter,
            Live = new Dashboard.LiveFeed(options, _fleetView, jobStore, jobControl, Writer, () => Registry.DirtyCount),
            Events = Registry.Events,
        };
    }

    public HubOptions Options { get; }

    /// <summary>The bound agent endpoint (the real port when port 0 was asked for).</summary>
    public IPEndPoint AgentEndPoint => _acceptLoop.EndPoint ?? throw new InvalidOperationException("hub not started");

    /// <summary>The HTTP API's base URL, or null when the API is off (or, with <see cref="HostedApi"/>, until the host
    /// has called <see cref="ApiListening"/>).</summary>
    public Uri? ApiUrl { get; private set; }

    /// <summary>True when a host serves this hub's HTTP API on its own app, as drover serve does: it calls
    /// <see cref="ConfigureApiServices"/>, listens with <see cref="ConfigureApiKestrel"/>, maps the endpoints with
    /// <see cref="MapApi"/>, starts its server after <see cref="StartAsync"/> and then calls <see cref="ApiListening"/>.
    /// The hub then starts no HTTP server of its own, whatever <see cref="HubOptions.HttpEndPoint"/> says, and writes its
    /// start line (which names the API's address) in <see cref="ApiListening"/>. Default: false.</summary>
    public bool HostedApi { get; init; }

    public DateTimeOffset StartedAt => _fleetView.StartedAt;

    /// <summary>How many agents this process can hold, from the open-files limit (0: not known).</summary>
    public long Capacity => Sessions.Capacity;

    /// <summary>Agents with a live session.</summary>
    public int ConnectedAgents => Registry.Connected;

    /// <summary>Status reports recorded since start.</summary>
    public long ReportsRecorded => Stats.TotalReports;

    /// <summary>The report interval agents are given now (stretched as the fleet grows).</summary>
    public TimeSpan CurrentInterval => TimeSpan.FromMilliseconds(Schedule.IntervalMs);

    /// <summary>How many agents the registry holds in each presence state.</summary>
    public IReadOnlyDictionary<Presence, int> CountAgentsByPresence() => _fleetView.CountByPresence();

    internal ILoggerFactory LoggerFactory { get; }

    internal TimeProvider Time { get; }

    internal AgentRegistry Registry { get; }

    internal FleetStats Stats { get; }

    internal ReportSchedule Schedule { get; }

    internal AdmissionControl Admission { get; }

    internal StatusWriter Writer { get; }

    internal AgentSessions Sessions { get; }

    internal LivenessSweep Liveness { get; }

    internal IFleetStore Store => _store;

    /// <summary>The job engine: queue, placement, leases, retries (the HTTP API submits and cancels through it).</summary>
    internal JobDispatcher Jobs { get; }

    internal ApiTokens Tokens { get; }

    internal AgentKeys AgentKeys { get; }

    internal AuditLog Audit { get; }

    /// <summary>Makes an API token (the HTTP API needs one on every route but <c>/healthz</c>) and returns its text, which
    /// exists nowhere else: the hub keeps only its hash. Call it after <see cref="StartAsync"/>.</summary>
    public async Task<string> CreateApiTokenAsync(ApiScope scope, string name, TimeSpan? lifetime = null, CancellationToken cancellationToken = default)
    {
        if (!_storesOpen)
        {
            throw new InvalidOperationException("the hub has not started");
        }

        var (_, text) = await Tokens.CreateAsync(scope, name, lifetime, AdminTokenSetup.Hub, cancellationToken).ConfigureAwait(false);
        return text;
    }

    /// <summary>Makes a join token (an agent presents it once, with its agent key, to enroll; see docs/security.md) and returns
    /// its text, which exists nowhere else. <paramref name="lifetime"/> defaults to 24 hours, <paramref name="uses"/> to no
    /// limit; <paramref name="labels"/> are given to every agent it enrolls; with <paramref name="hold"/> each agent waits for
    /// an operator's approval. Call it after <see cref="StartAsync"/>.</summary>
    public async Task<string> CreateJoinTokenAsync(
        string name, TimeSpan? lifetime = null, int? uses = null, IReadOnlyDictionary<string, string>? labels = null, bool hold = false, CancellationToken cancellationToken = default)
    {
        if (!_storesOpen)
        {
            throw new InvalidOperationException("the hub has not started");
        }

        var (_, text) = await Tokens.CreateJoinAsync(
            name, lifetime ?? HubOptions.DefaultJoinTokenLifetime, uses, labels ?? new Dictionary<string, string>(), hold, AdminTokenSetup.Hub, cancellationToken).ConfigureAwait(false);
        return text;
    }

    /// <summary>The job store, for reads (the API lists jobs and results from it).</summary>
    internal IJobStore JobStore => _jobStore;

    /// <summary>Connections without a hello yet, plus those closing: zero once every dropped socket is released.</summary>
    internal int PendingConnections => Sessions.PendingConnections;

    internal bool InRestartGrace => Liveness.InRestartGrace;

    /// <summary>Opens the store, loads the registry, raises the open-files limit, starts listening for agents and its
    /// loops, and then (unless <see cref="HostedApi"/>) serves the HTTP API on <see cref="HubOptions.HttpEndPoint"/>. If
    /// the API cannot listen, the hub stops again before the exception propagates.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _fleetView.StartedAt = Time.GetUtcNow();
        RaiseOpenFilesLimit();

        await _store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        var stored = await _store.LoadAgentsAsync(cancellationToken).ConfigureAwait(false);
        var (maxEpoch, maxOrdinal) = await _store.GetCountersAsync(cancellationToken).ConfigureAwait(false);
        Registry.Load(stored, maxEpoch, maxOrdinal);
        await _jobStore.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await Jobs.LoadAsync(cancellationToken).ConfigureAwait(false);
        await _accessStore.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await Tokens.LoadAsync(cancellationToken).ConfigureAwait(false);
        await AgentKeys.LoadAsync(cancellationToken).ConfigureAwait(false);
        await Audit.PruneAsync(cancellationToken).ConfigureAwait(false);
        await AdminTokenSetup.ApplyAsync(Options, Tokens, _logger, cancellationToken).ConfigureAwait(false);
        if (Options.OpenAgents)
        {
            Log.OpenAgents(_logger);
        }
        _storesOpen = true;
        var leftovers = _uploads.Prepare();
        if (leftovers > 0)
        {
            Log.UploadsLeftOver(_logger, leftovers, _uploads.Path);
        }

        // Managed restart: nobody is marked lost until one interval plus grace has passed.
        var graceUntil = StartedAt + Options.ReportInterval + Options.EffectiveLateGrace;
        Liveness.BeginRestartGrace(graceUntil);
        Log.Loaded(_logger, stored.Count, graceUntil);

        _acceptLoop.Listen(Options.AgentEndPoint, Options.ListenBacklog);

        var stopping = _stopping.Token;
        _loops.Add(Task.Run(() => _acceptLoop.RunAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => _acceptLoop.RunAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => Liveness.RunAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => Writer.RunAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => Jobs.RunAsync(stopping), CancellationToken.None));
        _jobWriterLoop = Task.Run(Jobs.Writer.RunAsync, CancellationToken.None);
        _started = true;
        if (HostedApi)
        {
            return; // the host starts its server now, then calls ApiListening
        }

        if (Options.HttpEndPoint is not null)
        {
            await StartOwnApiAsync(Options.HttpEndPoint, cancellationToken).ConfigureAwait(false);
        }

        Log.Started(_logger, Options.HubId, AgentEndPoint.ToString(), ApiUrl?.ToString() ?? "off");
    }

    /// <summary>Stops accepting, says bye to every agent (they reconnect elsewhere or later), flushes the store.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        if (_api is not null)
        {
            // The API first, as it started last: no request reaches a hub that is saying bye to its agents.
            await _api.StopAsync(cancellationToken).ConfigureAwait(false);
            await _api.DisposeAsync().ConfigureAwait(false);
        }

        _acceptLoop.Dispose();
        if (!_storesOpen)
        {
            // A start that failed before the stores were open (an unwritable data directory): nothing to say bye
            // to, nothing to flush, and the store's own error was already reported once.
            return;
        }

        var sessions = Sessions.CloseAll();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A loop that does not end in time is abandoned; the final flush below still runs.
        }

        await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await AgentKeys.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        Jobs.Writer.Complete();
        if (_jobWriterLoop is not null)
        {
            // Commits what is pending (results from the last moments are then acknowledged to nobody:
            // the agents resend them after reconnecting, and get duplicates acknowledged).
            try
            {
                await _jobWriterLoop.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A store that does not answer: what is pending is not committed (nothing was acknowledged for it).
            }
        }

        Sessions.DisposeAll(sessions);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        Writer.Dispose();
        Jobs.Dispose();
        _uploads.Dispose();
        _metricsExporter.Dispose();
        _metrics.Dispose();
    }

    /// <summary>Raises the soft open-files limit to the hard limit (each agent connection costs one descriptor),
    /// logs both, and sets the connection caps and <see cref="Capacity"/> from the result: the limit less
    /// <see cref="Os.SystemLimits.ReservedDescriptors"/>, or <see cref="HubOptions.MaxConnections"/> when that is lower.</summary>
    private void RaiseOpenFilesLimit()
    {
        var (softBefore, _) = Os.SystemLimits.GetOpenFilesLimit();
        var (softAfter, hard) = Os.SystemLimits.RaiseOpenFilesLimit();
        var fromLimit = Os.SystemLimits.AgentCapacityFor(softAfter, new Os.SystemLimits().FileMax);
        var maxConnections = ConnectionLimits.MaxConnectionsFor(Options.MaxConnections, fromLimit);
        Sessions.Limits.SetCaps(maxConnections, Options.MaxPendingHandshakes);
        Sessions.Capacity = maxConnections;
        Log.OpenFilesLimit(_logger, softBefore, softAfter, hard, Capacity);
        var source = Options.MaxConnections > 0 && (ulong)Options.MaxConnections <= fromLimit
            ? "--max-connections"
            : $"the open-files limit {Math.Min(softAfter, (ulong)int.MaxValue)} less {Os.SystemLimits.ReservedDescriptors} reserved"
                + (Options.MaxConnections > 0 ? $"; --max-connections {Options.MaxConnections} is more than that" : string.Empty);
        Log.ConnectionCaps(_logger, Sessions.Limits.MaxConnections, source, Sessions.Limits.MaxPendingHandshakes);
    }
}
