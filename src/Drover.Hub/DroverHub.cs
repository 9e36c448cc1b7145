using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Drover.Hub.Internal;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Drover.Hub;

/// <summary>The hub: accepts agents, keeps the registry, sweeps liveness, writes behind to the store,
/// serves the HTTP API. Partial files: Handshake (hello and status handling), Sweep (liveness and
/// scheduling), Api (HTTP).</summary>
public sealed partial class DroverHub : IAsyncDisposable
{
    private static readonly TimeSpan LingerAfterClose = TimeSpan.FromSeconds(2);

    private readonly IFleetStore _store;
    private readonly IJobStore _jobStore;
    private readonly ConcurrentDictionary<AgentConnection, byte> _pending = new();
    private readonly ConcurrentDictionary<AgentConnection, byte> _closing = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private Task? _jobWriterLoop;
    private Socket? _listener;
    private WebApplication? _api;
    private long _restartGraceUntilTicks;
    private int _stopped;
    private bool _storesOpen;

    /// <summary>A hub over <paramref name="store"/> (agents and status) and <paramref name="jobStore"/> (jobs);
    /// the SQLite stores may share one file.</summary>
    public DroverHub(HubOptions options, IFleetStore store, IJobStore jobStore, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(jobStore);
        options.Validate();
        Options = options;
        _store = store;
        _jobStore = jobStore;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger("Drover.Hub");
        Time = options.TimeProvider;
        Registry = new AgentRegistry(Time);
        Stats = new FleetStats(Time);
        Schedule = new ReportSchedule(options.ReportInterval, options.MaxReportsPerSecond);
        Admission = new AdmissionControl(options.AdmitPerSecond, Time);
        Writer = new StatusWriter(Registry, store, options, Logger);
        Jobs = new JobDispatcher(jobStore, options, Logger);
    }

    public HubOptions Options { get; }

    /// <summary>The bound agent endpoint (the real port when port 0 was asked for).</summary>
    public IPEndPoint AgentEndPoint => (IPEndPoint?)_listener?.LocalEndPoint ?? throw new InvalidOperationException("hub not started");

    /// <summary>The HTTP API's base URL, or null when the API is off.</summary>
    public Uri? ApiUrl { get; private set; }

    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>How many agents this process can hold, from the open-files limit (0: not known).</summary>
    public long Capacity { get; private set; }

    /// <summary>Agents with a live session.</summary>
    public int ConnectedAgents => Registry.Connected;

    /// <summary>Status reports recorded since start.</summary>
    public long ReportsRecorded => Stats.TotalReports;

    /// <summary>The report interval agents are given now (stretched as the fleet grows).</summary>
    public TimeSpan CurrentInterval => TimeSpan.FromMilliseconds(Schedule.IntervalMs);

    /// <summary>How many agents the registry holds in each presence state.</summary>
    public IReadOnlyDictionary<Presence, int> CountAgentsByPresence()
    {
        var counts = Enum.GetValues<Presence>().ToDictionary(p => p, _ => 0);
        foreach (var entry in Registry.Entries)
        {
            counts[entry.Presence]++;
        }

        return counts;
    }

    internal ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    internal TimeProvider Time { get; }

    internal AgentRegistry Registry { get; }

    internal FleetStats Stats { get; }

    internal ReportSchedule Schedule { get; }

    internal AdmissionControl Admission { get; }

    internal StatusWriter Writer { get; }

    internal IFleetStore Store => _store;

    /// <summary>The job engine: queue, placement, leases, retries (the HTTP API submits and cancels through it).</summary>
    internal JobDispatcher Jobs { get; }

    /// <summary>The job store, for reads (the API lists jobs and results from it).</summary>
    internal IJobStore JobStore => _jobStore;

    /// <summary>Connections without a hello yet, plus those closing: zero once every dropped socket is released.</summary>
    internal int PendingConnections => _pending.Count + _closing.Count;

    internal bool InRestartGrace => Time.GetUtcNow().UtcTicks < Volatile.Read(ref _restartGraceUntilTicks);

    /// <summary>Opens the store, loads the registry, raises the open-files limit, and starts listening.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        StartedAt = Time.GetUtcNow();
        RaiseOpenFilesLimit();

        await _store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        var stored = await _store.LoadAgentsAsync(cancellationToken).ConfigureAwait(false);
        var (maxEpoch, maxOrdinal) = await _store.GetCountersAsync(cancellationToken).ConfigureAwait(false);
        Registry.Load(stored, maxEpoch, maxOrdinal);
        await _jobStore.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await Jobs.LoadAsync(cancellationToken).ConfigureAwait(false);
        _storesOpen = true;

        // Managed restart: nobody is marked lost until one interval plus grace has passed.
        var graceUntil = StartedAt + Options.ReportInterval + Options.EffectiveLateGrace;
        _restartGraceUntilTicks = graceUntil.UtcTicks;
        Log.Loaded(Logger, stored.Count, graceUntil);

        _listener = Connections.AgentListener.Bind(Options.AgentEndPoint, Options.ListenBacklog);

        if (Options.HttpEndPoint is not null)
        {
            _api = BuildApi(Options.HttpEndPoint);
            await _api.StartAsync(cancellationToken).ConfigureAwait(false);
            ApiUrl = new Uri(_api.Urls.First());
        }

        var stopping = _stopping.Token;
        _loops.Add(Task.Run(() => AcceptLoopAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => AcceptLoopAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => SweepLoopAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => Writer.RunAsync(stopping), CancellationToken.None));
        _loops.Add(Task.Run(() => Jobs.RunAsync(stopping), CancellationToken.None));
        _jobWriterLoop = Task.Run(Jobs.Writer.RunAsync, CancellationToken.None);
        Log.Started(Logger, Options.HubId, AgentEndPoint.ToString(), ApiUrl?.ToString() ?? "off");
    }

    /// <summary>Stops accepting, says bye to every agent (they reconnect elsewhere or later), flushes the store.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _listener?.Dispose();
        if (!_storesOpen)
        {
            // A start that failed before the stores were open (an unwritable data directory): nothing to say bye
            // to, nothing to flush, and the store's own error was already reported once.
            return;
        }

        var sessions = Registry.Entries.Select(e => e.Session).OfType<AgentConnection>().ToList();
        Log.Stopping(Logger, sessions.Count);
        foreach (var session in sessions)
        {
            session.Close(DisconnectReason.HubStopping, Protocol.ErrorCode.ShuttingDown, "hub is shutting down; reconnect with backoff");
        }

        foreach (var connection in _pending.Keys)
        {
            connection.Close(DisconnectReason.HubStopping, Protocol.ErrorCode.ShuttingDown, "hub is shutting down");
        }

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

        foreach (var connection in _closing.Keys.Concat(sessions))
        {
            connection.Dispose();
        }

        if (_api is not null)
        {
            await _api.StopAsync(cancellationToken).ConfigureAwait(false);
            await _api.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        Writer.Dispose();
        Jobs.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of descriptors: the pending connections wait in the backlog; do not spin.
                Log.AcceptFailed(Logger, ex);
                await Task.Delay(TimeSpan.FromMilliseconds(100), Time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (SocketException)
            {
                // The peer reset before we accepted it.
                continue;
            }

            socket.NoDelay = true;
            socket.Blocking = false;
            var connection = new AgentConnection(socket, this, Time.GetUtcNow().UtcTicks);
            _pending.TryAdd(connection, 0);
            _ = connection.RunAsync();
        }
    }

    /// <summary>Called once when a connection begins to close (reason decided).</summary>
    internal void OnConnectionClosed(AgentConnection connection, DisconnectReason reason, string detail)
    {
        _pending.TryRemove(connection, out _);
        _closing.TryAdd(connection, 0);
        var entry = connection.Entry;
        if (entry is not null)
        {
            Registry.Detach(entry, connection.Epoch, $"{reason}: {detail}", keepPresence: reason == DisconnectReason.HubStopping);
            Jobs.OnAgentDisconnected(entry, connection);
        }

        switch (reason)
        {
            case DisconnectReason.ProtocolViolation or DisconnectReason.HandshakeTimeout or DisconnectReason.SlowConsumer:
                Log.BadPeer(Logger, connection.RemoteAddress, reason, detail);
                break;
            case DisconnectReason.InternalError:
                break;
            default:
                if (Logger.IsEnabled(LogLevel.Debug))
                {
                    Log.SessionEnded(Logger, entry?.Id ?? "(no hello)", connection.RemoteAddress, reason, detail);
                }

                break;
        }
    }

    /// <summary>Called once when the read loop has ended and the socket is released.</summary>
    internal void OnConnectionEnded(AgentConnection connection)
    {
        _pending.TryRemove(connection, out _);
        _closing.TryRemove(connection, out _);
    }

    /// <summary>Raises the soft open-files limit to the hard limit (each agent costs one descriptor),
    /// logs both, and sets <see cref="Capacity"/> from the result.</summary>
    private void RaiseOpenFilesLimit()
    {
        var (softBefore, _) = Os.SystemLimits.GetOpenFilesLimit();
        var (softAfter, hard) = Os.SystemLimits.RaiseOpenFilesLimit();
        var capacity = Os.SystemLimits.AgentCapacityFor(softAfter, new Os.SystemLimits().FileMax);
        Capacity = (long)Math.Min(capacity, int.MaxValue);
        Log.OpenFilesLimit(Logger, softBefore, softAfter, hard, Capacity);
    }
}
