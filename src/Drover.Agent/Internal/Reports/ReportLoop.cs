using Drover.Agent.Internal.Session;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Reports;

/// <summary>The report schedule: while connected, the backlog then one report per slot of the hub's schedule;
/// while disconnected, one sample per slot of the last known schedule into the bounded backlog.
/// <para>Cost: one pending delay (the next slot) and no timer.</para></summary>
internal sealed class ReportLoop
{
    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly AgentEvents _events;
    private readonly StatusCollector _collector;
    private readonly StatusBacklog _backlog;

    // _gate guards the fields below it: the read loop reschedules, the report loop waits.
    private readonly object _gate = new();
    private ReportSchedule? _schedule;
    private long _lastSlotHubMs = long.MinValue;
    private CancellationTokenSource? _wake;

    private bool _backlogWarned;
    private long _reportsSent;
    private long _reportsAcked;

    public ReportLoop(AgentOptions options, Random random, AgentEvents events, StatusCollector collector)
    {
        _options = options;
        _time = options.TimeProvider;
        _logger = AgentLogging.For<ReportLoop>(options);
        _random = random;
        _events = events;
        _collector = collector;
        _backlog = new StatusBacklog(options.StatusBacklog);
    }

    private string AgentId => _options.AgentId;

    public long ReportsSent => Interlocked.Read(ref _reportsSent);

    public long ReportsAcked => Interlocked.Read(ref _reportsAcked);

    public int BacklogCount => _backlog.Count;

    /// <summary>A welcome: the hub's schedule, with this agent's clock offset to the hub.</summary>
    public ReportSchedule OnWelcome(Welcome welcome)
    {
        var offset = ReportSchedule.ClockOffset(welcome.HubTimeUnixMs, _time.GetUtcNow());
        var schedule = new ReportSchedule(welcome.IntervalMs, welcome.SlotOffsetMs, offset);
        lock (_gate)
        {
            _schedule = schedule;
            _lastSlotHubMs = long.MinValue;
        }

        return schedule;
    }

    /// <summary>Read loop: a status_ack.</summary>
    public void OnStatusAck() => Interlocked.Increment(ref _reportsAcked);

    /// <summary>Connected: sends the backlog (oldest first), one report at once, then one per slot.
    /// A failed write closes the connection, which ends the read loop and with it the session.</summary>
    public async Task RunAsync(AgentConnection connection, string hub, CancellationToken cancellationToken)
    {
        Status? pending = null;
        try
        {
            var backlogged = 0;
            while (_backlog.TryPeek(out var sample))
            {
                await SendStatusAsync(connection, hub, sample, cancellationToken).ConfigureAwait(false);
                _backlog.RemoveSent(sample);
                backlogged++;
            }

            if (backlogged > 0)
            {
                Log.BacklogSent(_logger, AgentId, backlogged, hub);
            }

            lock (_gate)
            {
                // The report sent right after the welcome stands for a slot that falls exactly now.
                _lastSlotHubMs = Math.Max(_lastSlotHubMs, _schedule!.HubNowMs(_time.GetUtcNow()));
            }

            while (true)
            {
                pending = await _collector.TakeSampleAsync(cancellationToken).ConfigureAwait(false);
                await SendStatusAsync(connection, hub, pending, cancellationToken).ConfigureAwait(false);
                pending = null;
                await WaitForSlotAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
        catch (Exception)
        {
            // The write failed; the read loop sees the closed socket and classifies the end.
            connection.Abort();
        }
        finally
        {
            if (pending is not null)
            {
                // Taken but not sent: it keeps its sequence number and goes out after the next welcome.
                AddToBacklog(pending);
            }

            CancellationTokenSource? wake;
            lock (_gate)
            {
                wake = _wake;
                _wake = null;
            }

            wake?.Dispose();
        }
    }

    /// <summary>Waits until the next report slot: the next hub time t with t ≡ slot (mod interval), plus
    /// jitter. A reschedule cancels the wait and it is computed again.</summary>
    private async Task WaitForSlotAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            CancellationTokenSource wake;
            TimeSpan delay;
            long slot;
            lock (_gate)
            {
                var schedule = _schedule!;
                var now = _time.GetUtcNow();
                slot = schedule.NextSlotMs(schedule.HubNowMs(now), _lastSlotHubMs);
                delay = schedule.DelayUntil(slot, now) + schedule.Jitter(_random);
                wake = _wake ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            }

            try
            {
                await Task.Delay(delay, _time, wake.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Rescheduled: Reschedule already took this source out of _wake.
                wake.Dispose();
                continue;
            }

            lock (_gate)
            {
                _lastSlotHubMs = slot;
            }

            return;
        }
    }

    /// <summary>Read loop: a reschedule. Wakes the slot wait so it is computed again.</summary>
    public void Reschedule(Reschedule reschedule, string hub)
    {
        CancellationTokenSource? wake;
        ReportSchedule schedule;
        lock (_gate)
        {
            schedule = _schedule!.WithInterval(reschedule.IntervalMs, reschedule.SlotOffsetMs);
            _schedule = schedule;
            wake = _wake;
            _wake = null;
        }

        wake?.Cancel();
        Log.Rescheduled(_logger, AgentId, hub, schedule.IntervalMs, schedule.SlotOffsetMs);
        _events.Emit(AgentEventKind.Rescheduled, hub, DisconnectReason.None, ErrorCode.None, null, null);
    }

    /// <summary>Disconnected: waits <paramref name="delay"/>, taking a status sample into the backlog at each
    /// report slot of the last known schedule (if any) on the way.</summary>
    public async Task WaitDisconnectedAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + delay;
        while (true)
        {
            var now = _time.GetUtcNow();
            var remaining = deadline - now;
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            var untilSlot = TimeSpan.MaxValue;
            long slot = 0;
            lock (_gate)
            {
                if (_schedule is { } schedule && _backlog.Capacity > 0)
                {
                    slot = schedule.NextSlotMs(schedule.HubNowMs(now), _lastSlotHubMs);
                    untilSlot = schedule.DelayUntil(slot, now);
                }
            }

            if (untilSlot >= remaining)
            {
                await Task.Delay(remaining, _time, cancellationToken).ConfigureAwait(false);
                return;
            }

            await Task.Delay(untilSlot, _time, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _lastSlotHubMs = slot;
            }

            AddToBacklog(await _collector.TakeSampleAsync(cancellationToken).ConfigureAwait(false));
        }
    }

    private void AddToBacklog(Status sample)
    {
        if (_backlog.Add(sample) && !_backlogWarned)
        {
            _backlogWarned = true;
            Log.BacklogFull(_logger, AgentId, _backlog.Capacity);
        }
    }

    private async ValueTask SendStatusAsync(AgentConnection connection, string hub, Status status, CancellationToken cancellationToken)
    {
        await connection.SendAsync(_collector.FitToLimits(status), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _reportsSent);
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReportSent(_logger, AgentId, status.Sequence, hub);
        }
    }
}
