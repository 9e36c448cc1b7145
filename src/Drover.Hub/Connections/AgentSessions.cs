using System.Collections.Concurrent;
using Drover.Hub.Fleet;
using Drover.Hub.Jobs;
using Drover.Hub.Status;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Connections;

/// <summary>The agent connection handler: every accepted connection's session from hello to close. It answers the
/// hello (<c>AgentSessions.Handshake.cs</c>), takes each status report (the hot path), decides how a close is
/// logged and detaches it from the registry, and tracks the connections without a hello yet and those lingering
/// after a close. Partial files: Handshake (hello and status).</summary>
internal sealed partial class AgentSessions
{
    private static readonly TimeSpan LingerAfterClose = TimeSpan.FromSeconds(2);

    /// <summary>The handshake timeout of a connection that came over its source's rate: an honest agent sends its hello
    /// at once (to be told its retry-after), so a slot held longer is a flood's.</summary>
    private static readonly TimeSpan LimitedHandshakeTimeout = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<AgentConnection, byte> _pending = new();
    private readonly ConcurrentDictionary<AgentConnection, byte> _closing = new();
    private readonly AgentRegistry _registry;
    private readonly FleetStats _stats;
    private readonly ReportSchedule _schedule;
    private readonly AdmissionControl _admission;
    private readonly StatusWriter _writer;

    public AgentSessions(
        HubOptions options,
        AgentRegistry registry,
        FleetStats stats,
        ReportSchedule schedule,
        AdmissionControl admission,
        StatusWriter writer,
        JobDispatcher jobs,
        ConnectionLimits limits,
        Metrics.HubMetrics metrics,
        ILogger<AgentSessions> logger)
    {
        Metrics = metrics;
        Options = options;
        Time = options.TimeProvider;
        Limits = limits;
        ConnectionLog = new ConnectionLog(limits, Time, logger);
        _registry = registry;
        _stats = stats;
        _schedule = schedule;
        _admission = admission;
        _writer = writer;
        Jobs = jobs;
        Logger = logger;
        Takeovers = new SessionTakeovers(Time, logger);
        Sources = new SourceLimits(options);
        Flapping = new ReconnectFlapping(options);
        TlsOptions = options.Tls is { } tls ? tls.ServerOptions() : null;
    }

    /// <summary>The agent ids bound to agent keys (enrolled, or trust on first use); null: no key is checked.</summary>
    public Security.AgentKeys? AgentKeys { get; init; }

    /// <summary>The hub's tokens, of which the join tokens enroll agents; null: no agent can enroll.</summary>
    public Security.ApiTokens? JoinTokens { get; init; }

    /// <summary>The TLS settings every connection's handshake uses, made once; null for plain TCP.</summary>
    public System.Net.Security.SslServerAuthenticationOptions? TlsOptions { get; }

    public HubOptions Options { get; }

    public TimeProvider Time { get; }

    public ILogger Logger { get; }

    /// <summary>The hub's instruments (reports, refusals, connections opened and closed).</summary>
    public Metrics.HubMetrics Metrics { get; }

    /// <summary>The caps on connections and their counters (the accept loop asks it for every socket).</summary>
    public ConnectionLimits Limits { get; }

    /// <summary>Logs refused, failed and misbehaving connections without a line per connection.</summary>
    public ConnectionLog ConnectionLog { get; }

    /// <summary>The job engine, told of accepted jobs, busy answers and results read from a session.</summary>
    public JobDispatcher Jobs { get; }

    /// <summary>Takeovers of a live session by another connection with the same agent id, and the ids that flap.</summary>
    public SessionTakeovers Takeovers { get; }

    /// <summary>The per-source limits: connection rate and the penalty for wrong tokens.</summary>
    public SourceLimits Sources { get; }

    /// <summary>Agent ids that start too many sessions in a short time.</summary>
    public ReconnectFlapping Flapping { get; }

    /// <summary>How many agents this process can hold, from the open-files limit (0: not known); set at start.</summary>
    public long Capacity { get; set; }

    /// <summary>Connections without a hello yet, plus those closing: zero once every dropped socket is released.</summary>
    public int PendingConnections => _pending.Count + _closing.Count;

    /// <summary>Takes a freshly accepted socket's connection into the handshake (<see cref="Limits"/> counted it already).</summary>
    public void Accepted(AgentConnection connection)
    {
        _pending.TryAdd(connection, 0);
        Metrics.ConnectionOpened();
    }

    /// <summary>Called once when a connection begins to close (reason decided).</summary>
    public void OnConnectionClosed(AgentConnection connection, DisconnectReason reason, string detail)
    {
        LeaveHandshake(connection);
        _closing.TryAdd(connection, 0);
        Metrics.ConnectionClosed(reason);
        var entry = connection.Entry;
        if (entry is not null)
        {
            _registry.Detach(entry, connection.Epoch, $"{reason}: {detail}", keepPresence: reason == DisconnectReason.HubStopping);
            Jobs.OnAgentDisconnected(entry, connection);
        }

        switch (reason)
        {
            case DisconnectReason.ProtocolViolation or DisconnectReason.HandshakeTimeout or DisconnectReason.SlowConsumer or DisconnectReason.TlsFailed:
                if (reason == DisconnectReason.HandshakeTimeout)
                {
                    Limits.RecordHandshakeTimeout();
                }

                ConnectionLog.BadPeer(reason, connection.RemoteAddress, LogText.Escape(detail, LogText.LongTextMaxLength));
                break;
            case DisconnectReason.InternalError:
                break;
            default:
                if (Logger.IsEnabled(LogLevel.Debug))
                {
                    Log.SessionEnded(Logger, entry is null ? "(no hello)" : LogText.Escape(entry.Id), connection.RemoteAddress, reason, LogText.Escape(detail, LogText.LongTextMaxLength));
                }

                break;
        }
    }

    /// <summary>Called once when the read loop has ended and the socket is released.</summary>
    public void OnConnectionEnded(AgentConnection connection)
    {
        LeaveHandshake(connection);
        _closing.TryRemove(connection, out _);
        Limits.Released();
    }

    /// <summary>Takes the connection out of the handshake set (welcomed, refused or closing), once.</summary>
    private void LeaveHandshake(AgentConnection connection)
    {
        if (_pending.TryRemove(connection, out _))
        {
            Limits.HandshakeEnded();
        }
    }

    /// <summary>The sweep's part for connections: closes those that sent no hello within the handshake timeout,
    /// disposes lingering closes, and logs what <see cref="ConnectionLog"/> counted in the last minute.</summary>
    public void SweepConnections(long nowTicks)
    {
        var limitedTimeout = Options.HandshakeTimeout < LimitedHandshakeTimeout ? Options.HandshakeTimeout : LimitedHandshakeTimeout;
        foreach (var connection in _pending.Keys)
        {
            var timeout = connection.RefuseUntilTicks != 0 ? limitedTimeout : Options.HandshakeTimeout;
            if (nowTicks - connection.AcceptedTicks > timeout.Ticks)
            {
                connection.Close(DisconnectReason.HandshakeTimeout, Protocol.ErrorCode.HandshakeTimeout, $"no hello within {timeout.TotalSeconds:0.#} s");
            }
        }

        foreach (var connection in _closing.Keys)
        {
            if (nowTicks - connection.ClosingSinceTicks > LingerAfterClose.Ticks)
            {
                connection.Dispose();
                _closing.TryRemove(connection, out _);
            }
        }

        Sources.Prune();
        Flapping.Prune();
        ConnectionLog.Flush();
    }

    /// <summary>Says bye to every session and to every connection without a hello; returns the sessions, for
    /// <see cref="DisposeAll"/> once the loops have ended.</summary>
    public List<AgentConnection> CloseAll()
    {
        var sessions = _registry.Entries.Select(e => e.Session).OfType<AgentConnection>().ToList();
        Log.Stopping(Logger, sessions.Count);
        foreach (var session in sessions)
        {
            session.Close(DisconnectReason.HubStopping, Protocol.ErrorCode.ShuttingDown, "hub is shutting down; reconnect with backoff");
        }

        foreach (var connection in _pending.Keys)
        {
            connection.Close(DisconnectReason.HubStopping, Protocol.ErrorCode.ShuttingDown, "hub is shutting down");
        }

        return sessions;
    }

    /// <summary>Releases every lingering close and every session in <paramref name="sessions"/>.</summary>
    public void DisposeAll(IEnumerable<AgentConnection> sessions)
    {
        foreach (var connection in _closing.Keys.Concat(sessions))
        {
            connection.Dispose();
        }
    }
}
