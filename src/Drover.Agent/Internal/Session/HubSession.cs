using Drover.Agent.Internal.Jobs;
using Drover.Agent.Internal.Reports;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Session;

/// <summary>The session with one hub: connect, hello and welcome, the read loop (with the report loop beside it),
/// the messages that end a connection (refuse, bye, backoff, redirect) and the agent's own bye. The read loop hands
/// status acks and reschedules to <see cref="ReportLoop"/> and job messages to <see cref="JobSlots"/>; writes go
/// through <see cref="AgentConnection"/>, whose lock orders the writers.</summary>
internal sealed class HubSession
{
    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Hello _hello;
    private readonly ReconnectBackoff _backoff;
    private readonly AgentEvents _events;
    private readonly HubLimits _limits;
    private readonly StatusCollector _collector;
    private readonly ReportLoop _reports;
    private readonly JobSlots _jobs;
    private readonly KeyRotation _keys;

    private volatile Welcome? _lastWelcome;
    private volatile string? _currentHub;
    private int _connectionState;
    private long _connectAttempts;
    private long _sessions;

    public HubSession(
        AgentOptions options,
        ReconnectBackoff backoff,
        AgentEvents events,
        HubLimits limits,
        StatusCollector collector,
        ReportLoop reports,
        JobSlots jobs)
    {
        _options = options;
        _time = options.TimeProvider;
        _logger = AgentLogging.For<HubSession>(options);
        _hello = options.CreateHello();
        _backoff = backoff;
        _events = events;
        _limits = limits;
        _collector = collector;
        _reports = reports;
        _jobs = jobs;
        _keys = new KeyRotation(options, _logger);
    }

    private string AgentId => _options.AgentId;

    public AgentConnectionState ConnectionState => (AgentConnectionState)Volatile.Read(ref _connectionState);

    public string? CurrentHub => _currentHub;

    public Welcome? LastWelcome => _lastWelcome;

    public long ConnectAttempts => Interlocked.Read(ref _connectAttempts);

    public long Sessions => Interlocked.Read(ref _sessions);

    public void SetConnectionState(AgentConnectionState state) => Volatile.Write(ref _connectionState, (int)state);

    /// <summary>How long a stopping agent waits for its bye to be written and the hub to close. Real time,
    /// not the options' clock: it bounds socket I/O at shutdown, it schedules nothing.</summary>
    private static readonly TimeSpan ByeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Connects to <paramref name="hub"/>, says hello and, if welcomed, runs the session until it
    /// ends. Throws <see cref="OperationCanceledException"/> when stopped (after saying bye).</summary>
    public async Task<SessionOutcome> ConnectOnceAsync(string hub, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _connectAttempts);
        _currentHub = hub;
        SetConnectionState(AgentConnectionState.Connecting);
        Log.Connecting(_logger, AgentId, hub);
        _events.Emit(AgentEventKind.Connecting, hub, DisconnectReason.None, ErrorCode.None, null, null);

        if (!HubAddress.TryParse(hub, out var address, out var error))
        {
            return new SessionOutcome(DisconnectReason.ConnectFailed, ErrorCode.None, error);
        }

        AgentConnection connection;
        try
        {
            connection = await AgentConnection.ConnectAsync(address, _options.Trust, _options.ConnectTimeout, _jobs.ReceiveFrameLimit, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (HubNotTrustedException ex)
        {
            return new SessionOutcome(DisconnectReason.HubNotTrusted, ErrorCode.None, ex.Message);
        }
        catch (Exception ex)
        {
            return new SessionOutcome(DisconnectReason.ConnectFailed, ErrorCode.None, ex.Message);
        }

        await using (connection.ConfigureAwait(false))
        {
            return await HandshakeAsync(connection, hub, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<SessionOutcome> HandshakeAsync(AgentConnection connection, string hub, CancellationToken cancellationToken)
    {
        Message? answer;
        using (var timeout = new CancellationTokenSource(_options.HandshakeTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
        {
            try
            {
                var key = _keys.KeyForHello();
                await connection.SendAsync(key == _hello.AgentKey ? _hello : _hello with { AgentKey = key }, linked.Token).ConfigureAwait(false);
                answer = await connection.ReadAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await SayByeAsync(connection, hub, ErrorCode.None, "agent stopping").ConfigureAwait(false);
                throw;
            }
            catch (OperationCanceledException)
            {
                return new SessionOutcome(DisconnectReason.HandshakeTimeout, ErrorCode.HandshakeTimeout,
                    $"no answer to hello within {_options.HandshakeTimeout.TotalMilliseconds:0} ms");
            }
            catch (ProtocolException ex)
            {
                return await ProtocolErrorAsync(connection, hub, ex.Code, ex.Message, welcomed: false).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return new SessionOutcome(DisconnectReason.ConnectionLost, ErrorCode.None, ex.Message);
            }
        }

        switch (answer)
        {
            case Welcome welcome when welcome.Version is < ProtocolConstants.MinVersion or > ProtocolConstants.MaxVersion:
                var detail = $"hub chose protocol version {welcome.Version}; this agent speaks {ProtocolConstants.MinVersion}-{ProtocolConstants.MaxVersion}";
                await SayByeAsync(connection, hub, ErrorCode.UnsupportedVersion, detail).ConfigureAwait(false);
                return new SessionOutcome(DisconnectReason.Refused, ErrorCode.UnsupportedVersion, detail);
            case Welcome welcome:
                _keys.OnWelcome();
                OnWelcome(welcome, hub);
                return await RunSessionAsync(connection, hub, cancellationToken).ConfigureAwait(false);
            case null:
                return new SessionOutcome(DisconnectReason.HubClosed, ErrorCode.None, "hub closed the connection before answering hello");
            default:
                return OnControlMessage(hub, answer, welcomed: false)
                    ?? await ProtocolErrorAsync(connection, hub, ErrorCode.UnexpectedMessage, $"{answer.Type} in answer to hello", welcomed: false).ConfigureAwait(false);
        }
    }

    private void OnWelcome(Welcome welcome, string hub)
    {
        var schedule = _reports.OnWelcome(welcome);
        _limits.Apply(welcome);
        _collector.OnWelcome();
        _lastWelcome = welcome;
        _backoff.Reset();
        Interlocked.Increment(ref _sessions);
        SetConnectionState(AgentConnectionState.Connected);
        Log.Connected(_logger, AgentId, hub, LogText.Escape(welcome.HubId), welcome.Version, schedule.IntervalMs, schedule.SlotOffsetMs, schedule.ClockOffsetMs);
        _events.Emit(AgentEventKind.Connected, hub, DisconnectReason.None, ErrorCode.None, welcome.HubId, null);
    }

    /// <summary>The welcomed session: the report loop runs beside the read loop until either ends it.</summary>
    private async Task<SessionOutcome> RunSessionAsync(AgentConnection connection, string hub, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reports = _reports.RunAsync(connection, hub, sessionCts.Token);
        SessionOutcome outcome;
        try
        {
            outcome = await ReadLoopAsync(connection, hub, sessionCts.Token, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _jobs.Detach(connection);
            await sessionCts.CancelAsync().ConfigureAwait(false);
            await reports.ConfigureAwait(false);
            await SayByeAsync(connection, hub, ErrorCode.None, "agent stopping").ConfigureAwait(false);
            throw;
        }

        _jobs.Detach(connection);
        await sessionCts.CancelAsync().ConfigureAwait(false);
        await reports.ConfigureAwait(false);
        return outcome with { Welcomed = true, Length = _time.GetElapsedTime(started) };
    }

    private async Task<SessionOutcome> ReadLoopAsync(AgentConnection connection, string hub, CancellationToken sessionToken, CancellationToken cancellationToken)
    {
        try
        {
            await _jobs.ReannounceAsync(connection, hub, sessionToken).ConfigureAwait(false);
            while (true)
            {
                var message = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
                switch (message)
                {
                    case null:
                        return new SessionOutcome(DisconnectReason.HubClosed, ErrorCode.None, "hub closed the connection");
                    case Ping ping:
                        await connection.SendAsync(new Pong(ping.Value), cancellationToken).ConfigureAwait(false);
                        break;
                    case StatusAck:
                        _reports.OnStatusAck();
                        break;
                    case Pong:
                        break;
                    case Reschedule reschedule:
                        _reports.Reschedule(reschedule, hub);
                        break;
                    case Job job:
                        await _jobs.OnJobAsync(connection, hub, job, cancellationToken).ConfigureAwait(false);
                        break;
                    case JobCancel cancel:
                        await _jobs.OnJobCancelAsync(hub, cancel).ConfigureAwait(false);
                        break;
                    case JobResultAck ack:
                        _jobs.OnJobResultAck(hub, ack);
                        break;
                    case KeyExpiry expiry:
                        _keys.OnExpiry(connection, expiry, sessionToken);
                        break;
                    default:
                        return OnControlMessage(hub, message, welcomed: true) ?? await ProtocolErrorAsync(connection, hub, ErrorCode.UnexpectedMessage,
                            $"{message.Type} is not allowed during a session", welcomed: true).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (ProtocolException ex)
        {
            return await ProtocolErrorAsync(connection, hub, ex.Code, ex.Message, welcomed: true).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return new SessionOutcome(DisconnectReason.ConnectionLost, ErrorCode.None, ex.Message);
        }
    }

    /// <summary>Messages that end the connection: refuse, bye, backoff, redirect. Null for anything else.</summary>
    private SessionOutcome? OnControlMessage(string hub, Message message, bool welcomed) => message switch
    {
        Refuse refuse => Refused(hub, refuse, welcomed),
        Bye bye => new SessionOutcome(DisconnectReason.Bye, bye.Code, bye.Reason),
        Backoff backoff => new SessionOutcome(DisconnectReason.Backoff, ErrorCode.None, backoff.Reason,
            TimeSpan.FromMilliseconds(backoff.RetryAfterMs)),
        Redirect redirect => Redirected(hub, redirect),
        _ => null,
    };

    private SessionOutcome Refused(string hub, Refuse refuse, bool welcomed)
    {
        if (!welcomed && _keys.DroppedUnknownNext(refuse.Code))
        {
            return new SessionOutcome(DisconnectReason.Refused, ErrorCode.None, refuse.Reason, TimeSpan.Zero, welcomed);
        }

        if (!AgentRefusedException.IsPermanent(refuse.Code))
        {
            Log.Refused(_logger, AgentId, hub, refuse.Code, LogText.Escape(refuse.Reason, LogText.LongTextMaxLength), refuse.RetryAfterMs);
        }

        return new SessionOutcome(DisconnectReason.Refused, refuse.Code, refuse.Reason, TimeSpan.FromMilliseconds(refuse.RetryAfterMs), welcomed);
    }

    private SessionOutcome Redirected(string hub, Redirect redirect)
    {
        var valid = new List<string>(redirect.Hubs.Count);
        foreach (var entry in redirect.Hubs)
        {
            if (HubAddress.TryParse(entry, out _, out var error))
            {
                valid.Add(entry);
            }
            else
            {
                Log.BadRedirectEntry(_logger, AgentId, LogText.Escape(entry), LogText.Escape(error, LogText.LongTextMaxLength));
            }
        }

        Log.Redirected(_logger, AgentId, hub, LogText.Escape(string.Join(", ", valid), LogText.LongTextMaxLength), LogText.Escape(redirect.Reason, LogText.LongTextMaxLength));
        return new SessionOutcome(DisconnectReason.Redirect, ErrorCode.None, redirect.Reason, RedirectHubs: valid);
    }

    private async Task<SessionOutcome> ProtocolErrorAsync(AgentConnection connection, string hub, ErrorCode code, string detail, bool welcomed)
    {
        Log.ProtocolError(_logger, AgentId, hub, code, LogText.Escape(detail, LogText.LongTextMaxLength));
        await SayByeAsync(connection, hub, code, detail).ConfigureAwait(false);
        return new SessionOutcome(DisconnectReason.ProtocolError, code, detail, Welcomed: welcomed);
    }

    /// <summary>Best effort: writes bye and closes gracefully within <see cref="ByeTimeout"/>.</summary>
    private async Task SayByeAsync(AgentConnection connection, string hub, ErrorCode code, string reason)
    {
        using var timeout = new CancellationTokenSource(ByeTimeout);
        try
        {
            await connection.SendAsync(new Bye(code, reason), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ByeFailed(_logger, AgentId, hub, ex.Message);
            return;
        }

        if (code == ErrorCode.None)
        {
            Log.Stopping(_logger, AgentId, hub);
        }

        try
        {
            await connection.CloseGracefullyAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The hub did not close in time, or the connection broke: the socket is closed anyway.
        }
    }
}
