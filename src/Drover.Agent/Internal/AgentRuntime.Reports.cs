using System.Text;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal;

/// <summary>Status content, the report schedule, and the backlog kept while disconnected.</summary>
internal sealed partial class AgentRuntime
{
    public void SetState(AgentState state)
    {
        lock (_gate)
        {
            _agentState = state;
        }
    }

    public void SetProgress(byte? percent)
    {
        if (percent is > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "progress is 0 to 100, or null for none");
        }

        lock (_gate)
        {
            _progress = percent ?? ProtocolConstants.NoProgress;
        }
    }

    public void SetField(string key, FieldValue value)
    {
        ValidateField(key, value);
        lock (_gate)
        {
            Merge(_customFields, key, value);
        }
    }

    public bool RemoveField(string key)
    {
        lock (_gate)
        {
            var index = _customFields.FindIndex(f => string.Equals(f.Key, key, StringComparison.Ordinal));
            if (index < 0)
            {
                return false;
            }

            _customFields.RemoveAt(index);
            return true;
        }
    }

    internal static void ValidateField(string key, FieldValue value)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException("field key must not be empty", nameof(key));
        }

        if (Encoding.UTF8.GetByteCount(key) > ushort.MaxValue)
        {
            throw new ArgumentException("field key is longer than 65535 UTF-8 bytes", nameof(key));
        }

        if (value.Kind == FieldKind.String && Encoding.UTF8.GetByteCount(value.Text!) > ushort.MaxValue)
        {
            throw new ArgumentException("field value is longer than 65535 UTF-8 bytes", nameof(value));
        }
    }

    /// <summary>Connected: sends the backlog (oldest first), one report at once, then one per slot.
    /// A failed write closes the connection, which ends the read loop and with it the session.</summary>
    private async Task ReportLoopAsync(AgentConnection connection, string hub, CancellationToken cancellationToken)
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
                pending = await TakeSampleAsync(cancellationToken).ConfigureAwait(false);
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
                // Rescheduled: ApplyReschedule already took this source out of _wake.
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

    private void ApplyReschedule(Reschedule reschedule, string hub)
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
        Emit(AgentEventKind.Rescheduled, hub, DisconnectReason.None, ErrorCode.None, null, null);
    }

    /// <summary>Disconnected: waits <paramref name="delay"/>, taking a status sample into the backlog at each
    /// report slot of the last known schedule (if any) on the way.</summary>
    private async Task WaitDisconnectedAsync(TimeSpan delay, CancellationToken cancellationToken)
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

            AddToBacklog(await TakeSampleAsync(cancellationToken).ConfigureAwait(false));
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

    /// <summary>One status sample with the next sequence number: system metrics, custom fields, then the
    /// status provider's fields (later ones replace earlier ones of the same name).</summary>
    private async ValueTask<Status> TakeSampleAsync(CancellationToken cancellationToken)
    {
        var fields = new List<KeyValuePair<string, FieldValue>>(8);
        if (_options.IncludeSystemMetrics)
        {
            SystemMetrics.AppendTo(fields);
        }

        AgentState state;
        byte progress;
        var jobsInFlight = 0;
        if (_options.JobSlots > 0)
        {
            jobsInFlight = JobsInFlight;
            fields.Add(new("jobs_in_flight", FieldValue.From((long)jobsInFlight)));
            fields.Add(new("job_slots", FieldValue.From((long)_options.JobSlots)));
        }

        lock (_gate)
        {
            foreach (var (key, value) in _customFields)
            {
                Merge(fields, key, value);
            }

            // Busy while a job runs, unless the application set a state of its own (Draining, Busy...).
            state = _agentState == AgentState.Idle && jobsInFlight > 0 ? AgentState.Busy : _agentState;
            progress = _progress;
        }

        if (_options.StatusProvider is { } provider)
        {
            try
            {
                var extra = await provider(cancellationToken).ConfigureAwait(false);
                foreach (var (key, value) in extra)
                {
                    ValidateField(key, value);
                    Merge(fields, key, value);
                }

                _lastProviderError = null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                if (!string.Equals(ex.Message, _lastProviderError, StringComparison.Ordinal))
                {
                    _lastProviderError = ex.Message;
                    Log.StatusProviderFailed(_logger, AgentId, ex.Message);
                }
            }
        }

        var sequence = (ulong)Interlocked.Increment(ref _sequence);
        return new Status(sequence, state, progress, fields);
    }

    private async ValueTask SendStatusAsync(AgentConnection connection, string hub, Status status, CancellationToken cancellationToken)
    {
        await connection.SendAsync(FitToLimits(status), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _reportsSent);
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReportSent(_logger, AgentId, status.Sequence, hub);
        }
    }

    /// <summary>Keeps a report within the welcome's field count and frame size by dropping the last fields
    /// (custom fields come after the system metrics); warns once per session.</summary>
    private Status FitToLimits(Status status)
    {
        int maxFields;
        int maxFrame;
        lock (_gate)
        {
            maxFields = _maxStatusFields;
            maxFrame = _maxFrameSize;
        }

        var fields = status.Fields;
        var count = Math.Min(fields.Count, maxFields);
        var fitted = count == fields.Count ? status : status with { Fields = fields.Take(count).ToArray() };
        while (fitted.PayloadSize > maxFrame && count > 0)
        {
            count--;
            fitted = status with { Fields = fields.Take(count).ToArray() };
        }

        if (count < fields.Count)
        {
            var warn = false;
            lock (_gate)
            {
                if (!_fieldsWarned)
                {
                    _fieldsWarned = true;
                    warn = true;
                }
            }

            if (warn)
            {
                Log.FieldsDropped(_logger, AgentId, fields.Count, count);
            }
        }

        return fitted;
    }

    private static void Merge(List<KeyValuePair<string, FieldValue>> fields, string key, FieldValue value)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (string.Equals(fields[i].Key, key, StringComparison.Ordinal))
            {
                fields[i] = new(key, value);
                return;
            }
        }

        fields.Add(new(key, value));
    }
}
