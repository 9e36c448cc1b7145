using System.Threading.Channels;
using Drover.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Drover.Agent.Internal;

/// <summary>The agent's engine behind <see cref="DroverAgent"/>: one run loop that connects, runs a
/// session, decides where and when to reconnect, and samples status while disconnected.
/// <para>Cost per agent: while connected, one pending socket read (zero-byte, no buffer) and one pending
/// delay (the next report slot); while disconnected, one pending delay. No thread and no periodic timer.</para>
/// <para>Split by concern: this file holds state and the run loop; <c>AgentRuntime.Session.cs</c> the
/// connection, handshake and read loop; <c>AgentRuntime.Reports.cs</c> the schedule, samples and backlog.</para></summary>
internal sealed partial class AgentRuntime : IDisposable
{
    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random = Random.Shared;
    private readonly HubSelector _hubs;
    private readonly ReconnectBackoff _backoff;
    private readonly StatusBacklog _backlog;
    private readonly Hello _hello;

    // _gate guards the fields below it that are written by one task and read by another.
    private readonly object _gate = new();
    private readonly List<KeyValuePair<string, FieldValue>> _customFields = [];
    private AgentState _agentState = AgentState.Idle;
    private byte _progress = ProtocolConstants.NoProgress;
    private ReportSchedule? _schedule;
    private long _lastSlotHubMs = long.MinValue;
    private CancellationTokenSource? _wake;
    private int _maxStatusFields = ProtocolConstants.DefaultMaxStatusFields;
    private int _maxFrameSize = ProtocolConstants.DefaultMaxFrameSize;
    private bool _fieldsWarned;
    private bool _backlogWarned;
    private string? _lastProviderError;

    private volatile Welcome? _lastWelcome;
    private volatile string? _currentHub;
    private volatile Channel<AgentEvent>? _events;
    private int _connectionState;
    private long _sequence;
    private long _reportsSent;
    private long _reportsAcked;
    private long _connectAttempts;
    private long _sessions;

    public AgentRuntime(AgentOptions options)
    {
        _options = options;
        _time = options.TimeProvider;
        _logger = options.Logger ?? options.LoggerFactory?.CreateLogger("Drover.Agent") ?? NullLogger.Instance;
        _hubs = new HubSelector(options.AgentId, options.Hubs);
        _backoff = new ReconnectBackoff(options.BackoffBase, options.BackoffCap);
        _backlog = new StatusBacklog(options.StatusBacklog);
        _hello = options.CreateHello();
        InitJobs();
    }

    public string AgentId => _options.AgentId;

    public AgentConnectionState ConnectionState => (AgentConnectionState)Volatile.Read(ref _connectionState);

    public string? CurrentHub => _currentHub;

    public Welcome? LastWelcome => _lastWelcome;

    public long ReportsSent => Interlocked.Read(ref _reportsSent);

    public long ReportsAcked => Interlocked.Read(ref _reportsAcked);

    public long ConnectAttempts => Interlocked.Read(ref _connectAttempts);

    public long Sessions => Interlocked.Read(ref _sessions);

    public ulong LastSequence => (ulong)Interlocked.Read(ref _sequence);

    public int BacklogCount => _backlog.Count;

    /// <summary>The hub order in use (tests and diagnostics; read from the run loop's state).</summary>
    public IReadOnlyList<string> HubOrder => _hubs.Order;

    public ChannelReader<AgentEvent> Events
    {
        get
        {
            var channel = _events;
            if (channel is null)
            {
                var created = Channel.CreateBounded<AgentEvent>(new BoundedChannelOptions(256)
                {
                    FullMode = BoundedChannelFullMode.DropOldest,
                    SingleReader = false,
                    SingleWriter = false,
                });
                channel = Interlocked.CompareExchange(ref _events, created, null) ?? created;
            }

            return channel.Reader;
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var stopReason = DisconnectReason.Stopped;
        var stopCode = ErrorCode.None;
        string? stopDetail = null;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var hub = _hubs.Current;
                var outcome = await ConnectOnceAsync(hub, cancellationToken).ConfigureAwait(false);
                if (outcome.Reason == DisconnectReason.Refused && AgentRefusedException.IsPermanent(outcome.Code))
                {
                    Log.RefusedPermanently(_logger, AgentId, hub, outcome.Code, outcome.Detail);
                    (stopReason, stopCode, stopDetail) = (DisconnectReason.Refused, outcome.Code, outcome.Detail);
                    throw new AgentRefusedException(outcome.Code, outcome.Detail, hub);
                }

                var delay = Decide(outcome);
                SetConnectionState(AgentConnectionState.Disconnected);
                if (_logger.IsEnabled(LogLevel.Information))
                {
                    var detail = outcome.Code == ErrorCode.None ? outcome.Detail : $"{outcome.Code}: {outcome.Detail}";
                    Log.Disconnected(_logger, AgentId, hub, outcome.Reason, detail, (long)delay.TotalMilliseconds);
                }

                Emit(AgentEventKind.Disconnected, hub, outcome.Reason, outcome.Code, outcome.Detail, delay);
                await WaitDisconnectedAsync(delay, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping is the normal end of a run.
        }
        finally
        {
            await StopJobsAsync().ConfigureAwait(false);
            SetConnectionState(AgentConnectionState.Disconnected);
            Emit(AgentEventKind.Stopped, _currentHub, stopReason, stopCode, stopDetail, null);
            _events?.Writer.TryComplete();
        }
    }

    /// <summary>Releases the job machinery; call after <see cref="RunAsync"/> completed.</summary>
    public void Dispose()
    {
        _jobsStop?.Dispose();
        _jobSendLock.Dispose();
    }

    /// <summary>Where and when to try next, from how the last attempt ended.</summary>
    private TimeSpan Decide(SessionOutcome outcome)
    {
        switch (outcome.Reason)
        {
            case DisconnectReason.Backoff:
                // The hub sheds load: same hub, no sooner than its retry-after.
                return _backoff.NextAtLeast(outcome.RetryAfter, _random);

            case DisconnectReason.Redirect when outcome.RedirectHubs is { Count: > 0 } hubs:
                _hubs.Replace(hubs);
                // A small spread so a hub redirecting thousands of agents does not get them back at once.
                return _options.BackoffBase * _random.NextDouble();

            case DisconnectReason.Bye when outcome.Code == ErrorCode.SessionReplaced:
                // Another process uses this id. Waiting at least the cap keeps the two from taking the
                // session from each other in a tight loop.
                return _backoff.NextAtLeast(_options.BackoffCap, _random);

            case DisconnectReason.Refused when !outcome.Welcomed:
                if (outcome.Code != ErrorCode.Overloaded)
                {
                    // Overloaded means "come back later"; anything else (full, internal error) means try another hub.
                    _hubs.OnConnectFailed();
                }

                return _backoff.NextAtLeast(outcome.RetryAfter, _random);

            default:
                if (outcome.Welcomed)
                {
                    _hubs.OnSessionEnded(outcome.Length);
                }
                else
                {
                    _hubs.OnConnectFailed();
                }

                return _backoff.NextAtLeast(outcome.RetryAfter, _random);
        }
    }

    private void SetConnectionState(AgentConnectionState state) => Volatile.Write(ref _connectionState, (int)state);

    private void Emit(AgentEventKind kind, string? hub, DisconnectReason reason, ErrorCode code, string? detail, TimeSpan? retryIn)
    {
        _events?.Writer.TryWrite(new AgentEvent(kind, _time.GetUtcNow(), hub, reason, code, detail, retryIn));
    }

    /// <summary>How a connection attempt or session ended.</summary>
    private readonly record struct SessionOutcome(
        DisconnectReason Reason,
        ErrorCode Code,
        string Detail,
        TimeSpan RetryAfter = default,
        bool Welcomed = false,
        TimeSpan Length = default,
        IReadOnlyList<string>? RedirectHubs = null);
}
