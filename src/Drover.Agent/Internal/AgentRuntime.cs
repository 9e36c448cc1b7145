using System.Threading.Channels;
using Drover.Agent.Internal.Jobs;
using Drover.Agent.Internal.Reports;
using Drover.Agent.Internal.Session;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal;

/// <summary>The agent's engine behind <see cref="DroverAgent"/>: it wires the roles together and runs the one loop
/// that connects, runs a session, decides where and when to reconnect, and waits (sampling status) while
/// disconnected.
/// <para>The roles: <see cref="HubSession"/> (Session/: connect, handshake, read loop, bye),
/// <see cref="ReportLoop"/> and <see cref="StatusCollector"/> (Reports/: schedule, samples, backlog),
/// <see cref="JobSlots"/> and <see cref="JobExecutor"/> (Jobs/: accept, verify, run, keep and re-announce results).</para>
/// <para>Cost per agent: while connected, one pending socket read (zero-byte, no buffer) and one pending
/// delay (the next report slot); while disconnected, one pending delay. No thread and no periodic timer.</para></summary>
internal sealed class AgentRuntime : IDisposable
{
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly Random _random = Random.Shared;
    private readonly HubSelector _hubs;
    private readonly ReconnectBackoff _backoff;
    private readonly AgentEvents _events;
    private readonly StatusCollector _collector;
    private readonly ReportLoop _reports;
    private readonly JobSlots _jobs;
    private readonly HubSession _session;

    public AgentRuntime(AgentOptions options)
    {
        _options = options;
        _logger = AgentLogging.For<AgentRuntime>(options);
        _hubs = new HubSelector(options.AgentId, options.Hubs);
        _backoff = new ReconnectBackoff(options.BackoffBase, options.BackoffCap);
        _events = new AgentEvents(options.TimeProvider);
        var limits = new HubLimits();
        HubSession? session = null;
        _jobs = new JobSlots(options, _events, limits, () => session?.CurrentHub);
        _collector = new StatusCollector(options, limits, () => _jobs.InFlight);
        _reports = new ReportLoop(options, _random, _events, _collector);
        _session = session = new HubSession(options, _backoff, _events, limits, _collector, _reports, _jobs);
    }

    public string AgentId => _options.AgentId;

    public AgentConnectionState ConnectionState => _session.ConnectionState;

    public string? CurrentHub => _session.CurrentHub;

    public Welcome? LastWelcome => _session.LastWelcome;

    public long ReportsSent => _reports.ReportsSent;

    public long ReportsAcked => _reports.ReportsAcked;

    public long ConnectAttempts => _session.ConnectAttempts;

    public long Sessions => _session.Sessions;

    public ulong LastSequence => _collector.LastSequence;

    public int BacklogCount => _reports.BacklogCount;

    public int JobsInFlight => _jobs.InFlight;

    public int UnackedResults => _jobs.UnackedResults;

    public long JobsAccepted => _jobs.Accepted;

    public long JobsRefused => _jobs.Refused;

    /// <summary>The hub order in use (tests and diagnostics; read from the run loop's state).</summary>
    public IReadOnlyList<string> HubOrder => _hubs.Order;

    public ChannelReader<AgentEvent> Events => _events.Reader;

    public void SetState(AgentState state) => _collector.SetState(state);

    public void SetProgress(byte? percent) => _collector.SetProgress(percent);

    public void SetField(string key, FieldValue value) => _collector.SetField(key, value);

    public bool RemoveField(string key) => _collector.RemoveField(key);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var stopReason = DisconnectReason.Stopped;
        var stopCode = ErrorCode.None;
        string? stopDetail = null;
        if (_options.Trust.IsInsecure)
        {
            Log.Insecure(_logger, AgentId);
        }

        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var hub = _hubs.Current;
                var outcome = await _session.ConnectOnceAsync(hub, cancellationToken).ConfigureAwait(false);
                // A permanent refusal, at the hello or (a revoked credential) as the bye that ends a session, stops the agent.
                if (outcome.Reason is DisconnectReason.Refused or DisconnectReason.Bye && AgentRefusedException.IsPermanent(outcome.Code))
                {
                    Log.RefusedPermanently(_logger, AgentId, hub, outcome.Code, LogText.Escape(outcome.Detail, LogText.LongTextMaxLength));
                    (stopReason, stopCode, stopDetail) = (DisconnectReason.Refused, outcome.Code, outcome.Detail);
                    throw new AgentRefusedException(outcome.Code, outcome.Detail, hub);
                }

                var delay = Decide(outcome);
                _session.SetConnectionState(AgentConnectionState.Disconnected);
                if (outcome.Reason == DisconnectReason.HubNotTrusted)
                {
                    Log.HubNotTrusted(_logger, AgentId, hub, outcome.Detail, (long)delay.TotalMilliseconds);
                }
                else if (_logger.IsEnabled(LogLevel.Information))
                {
                    var detail = outcome.Code == ErrorCode.None ? outcome.Detail : $"{outcome.Code}: {outcome.Detail}";
                    Log.Disconnected(_logger, AgentId, hub, outcome.Reason, LogText.Escape(detail, LogText.LongTextMaxLength), (long)delay.TotalMilliseconds);
                }

                _events.Emit(AgentEventKind.Disconnected, hub, outcome.Reason, outcome.Code, outcome.Detail, delay);
                await _reports.WaitDisconnectedAsync(delay, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping is the normal end of a run.
        }
        finally
        {
            await _jobs.StopAsync().ConfigureAwait(false);
            _session.SetConnectionState(AgentConnectionState.Disconnected);
            _events.Emit(AgentEventKind.Stopped, _session.CurrentHub, stopReason, stopCode, stopDetail, null);
            _events.Complete();
        }
    }

    /// <summary>Releases the job machinery; call after <see cref="RunAsync"/> completed.</summary>
    public void Dispose() => _jobs.Dispose();

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
}
