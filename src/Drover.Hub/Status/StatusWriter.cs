using Drover.Hub.Fleet;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Status;

/// <summary>Write-behind for the registry. Reports are coalesced in the entries; once per flush
/// interval this writes every changed agent in one store transaction (one row per agent, plus one
/// history sample for each agent that reported). A new agent's registration is durable before its
/// welcome: <see cref="WaitDurableAsync"/> asks for an early flush, so registrations that arrive
/// together are committed together.</summary>
/// <remarks>When the store fails (a full disk), nothing is dropped: the entries stay dirty in the registry, which
/// keeps each agent's latest status in memory, and registrations keep waiting. The writer tries again after 1, 2, 4,
/// then every 5 s (<see cref="StoreFailureLog.MaxRetryDelay"/>; a registration wakes it sooner), so it is writing again within 5 s
/// of space being freed. <see cref="StoreFailureLog"/> decides which failures are logged.</remarks>
internal sealed class StatusWriter : IDisposable
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);

    /// <summary>How often the cap of samples per agent is enforced: it walks the whole history.</summary>
    private static readonly TimeSpan CapPruneEvery = TimeSpan.FromHours(1);

    /// <summary>The bucket of downsampled history.</summary>
    internal static readonly TimeSpan DownsampleBucket = TimeSpan.FromMinutes(1);

    private readonly AgentRegistry _registry;
    private readonly IFleetStore _store;
    private readonly HubOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _waitersLock = new();
    private List<TaskCompletionSource> _waiters = [];
    private readonly StoreFailureLog _failures;
    private readonly StoreFailureLog _pruneFailures;
    private long _lastPruneTicks;
    private long _durableUpToTicks;
    private readonly Metrics.HubMetrics _metrics;
    private long _lastCapPruneTicks;
    private DateTimeOffset? _downsampledUntil;
    private List<AgentEventRecord> _unwrittenEvents = [];

    public StatusWriter(AgentRegistry registry, IFleetStore store, HubOptions options, ILogger logger, Metrics.HubMetrics metrics)
    {
        _metrics = metrics;
        _registry = registry;
        _store = store;
        _options = options;
        _logger = logger;
        _failures = new StoreFailureLog(options.TimeProvider);
        _pruneFailures = new StoreFailureLog(options.TimeProvider);
    }

    public long Flushes { get; private set; }

    public long RowsWritten { get; private set; }

    /// <summary>When the last flush that wrote everything then dirty started (UTC ticks): every change before it is durable.</summary>
    public long DurableUpToTicks => Volatile.Read(ref _durableUpToTicks);

    /// <summary>The store failed the latest flush (entries wait for the next one).</summary>
    public bool Failing => _failures.StreakFailures > 0;

    /// <summary>Completes after the next flush that started after this call commits.</summary>
    public Task WaitDurableAsync()
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waitersLock)
        {
            _waiters.Add(waiter);
        }

        Wake();
        return waiter.Task;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var time = _options.TimeProvider;
        _lastPruneTicks = time.GetUtcNow().UtcTicks;
        _lastCapPruneTicks = _lastPruneTicks - CapPruneEvery.Ticks; // the first prune enforces the cap too
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                // Wait for the flush interval or an early wake (a registration waits).
                var delay = RetryDelay(_failures.StreakFailures, _options.FlushInterval);
                using var timeout = new CancellationTokenSource(delay, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
                try
                {
                    await _wake.WaitAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }

                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>Writes everything dirty now. Returns false if the store failed (entries stay dirty).</summary>
    public async Task<bool> FlushAsync(CancellationToken cancellationToken)
    {
        List<TaskCompletionSource> waiters;
        lock (_waitersLock)
        {
            waiters = _waiters;
            _waiters = [];
        }

        var startedTicks = _options.TimeProvider.GetUtcNow().UtcTicks;
        var entries = _registry.DrainDirty();
        var events = _unwrittenEvents;
        _unwrittenEvents = [];
        events.AddRange(_registry.Events.Drain());
        var agents = new List<AgentRecord>(entries.Count);
        var history = new List<StatusSample>();
        var withHistory = new List<AgentEntry>();
        foreach (var entry in entries)
        {
            lock (entry)
            {
                var decoded = entry.DecodeStatus();
                var status = decoded is null ? null : StatusConversions.ToRecord(decoded, entry.StatusAtTicks);
                agents.Add(Snapshot(entry, status));
                if (entry.HasUnflushedStatus && status is not null && _options.HistoryPerAgent > 0)
                {
                    history.Add(new StatusSample(entry.Id, status));
                    entry.HasUnflushedStatus = false;
                    withHistory.Add(entry);
                }
            }
        }

        if (agents.Count > 0 || events.Count > 0)
        {
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                await _store.WriteBatchAsync(agents, history, events, cancellationToken).ConfigureAwait(false);
                _metrics.StatusFlushed(System.Diagnostics.Stopwatch.GetElapsedTime(started), agents.Count);
                Flushes++;
                RowsWritten += agents.Count;
                if (_failures.Success(out var failed, out var failedFor))
                {
                    Log.StoreRecovered(_logger, failed, failedFor.TotalSeconds);
                }
                foreach (var entry in entries)
                {
                    lock (entry)
                    {
                        entry.Stored = true;
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Nothing is lost: every entry goes back to the queue, and registrations keep waiting.
                if (_failures.Failure(ex, out var failures))
                {
                    var retry = RetryDelay(_failures.StreakFailures, _options.FlushInterval);
                    Log.StoreWriteFailed(_logger, agents.Count, failures, (long)retry.TotalMilliseconds, ex.Message, ex is StoreException { IsFull: true } ? null : ex);
                }

                foreach (var entry in withHistory)
                {
                    lock (entry)
                    {
                        entry.HasUnflushedStatus = true;
                    }
                }

                // Kept for the next try, within the event log's bound (the oldest go first).
                _unwrittenEvents = events.Count > AgentEventLog.Capacity ? events[^AgentEventLog.Capacity..] : events;

                foreach (var entry in entries)
                {
                    _registry.MarkDirty(entry);
                }

                lock (_waitersLock)
                {
                    _waiters.AddRange(waiters);
                }

                return false;
            }
        }

        Volatile.Write(ref _durableUpToTicks, startedTicks);
        foreach (var waiter in waiters)
        {
            waiter.TrySetResult();
        }

        await PruneIfDueAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    private AgentRecord Snapshot(AgentEntry entry, StatusRecord? status) => new()
    {
        Id = entry.Id,
        Labels = entry.Labels,
        Address = entry.Address,
        Version = entry.Version,
        HubNode = _options.HubId,
        FirstSeen = new DateTimeOffset(entry.FirstSeenTicks, TimeSpan.Zero),
        LastSeen = new DateTimeOffset(entry.LastSeenTicks, TimeSpan.Zero),
        Presence = entry.Presence,
        SessionEpoch = entry.Epoch,
        SlotOrdinal = entry.SlotOrdinal,
        LastDisconnectReason = entry.LastDisconnectReason,
        Status = status,
    };

    private async Task PruneIfDueAsync(CancellationToken cancellationToken)
    {
        var now = _options.TimeProvider.GetUtcNow();
        if (now.UtcTicks - _lastPruneTicks < PruneEvery.Ticks)
        {
            return;
        }

        _lastPruneTicks = now.UtcTicks;
        try
        {
            // Every minute: the age, the downsampling of what left the full-rate span since the last time (at the first
            // prune, all the history kept), the events' age. Hourly: the cap per agent.
            var capDue = now.UtcTicks - _lastCapPruneTicks >= CapPruneEvery.Ticks;
            var deleted = await _store.PruneStatusHistoryAsync(capDue ? _options.HistoryPerAgent : int.MaxValue, now - _options.KeepHistory, cancellationToken).ConfigureAwait(false);
            if (capDue)
            {
                _lastCapPruneTicks = now.UtcTicks;
            }

            var downsampleTo = now - _options.HistoryFullRateFor;
            var downsampleFrom = (_downsampledUntil ?? now - _options.KeepHistory) - DownsampleBucket;
            deleted += await _store.DownsampleStatusHistoryAsync(downsampleFrom, downsampleTo, DownsampleBucket, cancellationToken).ConfigureAwait(false);
            _downsampledUntil = downsampleTo;
            deleted += await _store.PruneAgentEventsAsync(now - _options.KeepEvents, cancellationToken).ConfigureAwait(false);
            _pruneFailures.Success(out _, out _);
            Log.HistoryPruned(_logger, deleted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            if (_pruneFailures.Failure(ex, out var failures))
            {
                Log.HistoryPruneFailed(_logger, failures, ex.Message, ex is StoreException { IsFull: true } ? null : ex);
            }
        }
    }

    public void Dispose() => _wake.Dispose();

    /// <summary>The wait before the next flush: the flush interval, or after <paramref name="failures"/> failures in a
    /// row <see cref="StoreFailureLog.RetryDelay"/> (1, 2, 4, then 5 s).</summary>
    internal static TimeSpan RetryDelay(int failures, TimeSpan flushInterval) =>
        failures == 0 ? flushInterval : StoreFailureLog.RetryDelay(failures);

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }
}
