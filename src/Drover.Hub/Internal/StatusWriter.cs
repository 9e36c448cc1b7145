using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Internal;

/// <summary>Write-behind for the registry. Reports are coalesced in the entries; once per flush
/// interval this writes every changed agent in one store transaction (one row per agent, plus one
/// history sample for each agent that reported). A new agent's registration is durable before its
/// welcome: <see cref="WaitDurableAsync"/> asks for an early flush, so registrations that arrive
/// together are committed together.</summary>
internal sealed class StatusWriter : IDisposable
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);

    private readonly AgentRegistry _registry;
    private readonly IFleetStore _store;
    private readonly HubOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _waitersLock = new();
    private List<TaskCompletionSource> _waiters = [];
    private long _lastPruneTicks;
    private int _consecutiveFailures;

    public StatusWriter(AgentRegistry registry, IFleetStore store, HubOptions options, ILogger logger)
    {
        _registry = registry;
        _store = store;
        _options = options;
        _logger = logger;
    }

    public long Flushes { get; private set; }

    public long RowsWritten { get; private set; }

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
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                // Wait for the flush interval or an early wake (a registration waits).
                var delay = _consecutiveFailures == 0
                    ? _options.FlushInterval
                    : TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(_consecutiveFailures, 5)));
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

        var entries = _registry.DrainDirty();
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

        if (agents.Count > 0)
        {
            try
            {
                await _store.WriteBatchAsync(agents, history, cancellationToken).ConfigureAwait(false);
                Flushes++;
                RowsWritten += agents.Count;
                if (_consecutiveFailures > 0)
                {
                    Log.StoreRecovered(_logger, _consecutiveFailures);
                }

                _consecutiveFailures = 0;
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
                _consecutiveFailures++;
                if (_consecutiveFailures == 1 || _consecutiveFailures % 30 == 0)
                {
                    Log.StoreWriteFailed(_logger, agents.Count, _consecutiveFailures, ex);
                }

                foreach (var entry in withHistory)
                {
                    lock (entry)
                    {
                        entry.HasUnflushedStatus = true;
                    }
                }

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
            var deleted = await _store.PruneStatusHistoryAsync(_options.HistoryPerAgent, now - _options.HistoryMaxAge, cancellationToken).ConfigureAwait(false);
            Log.HistoryPruned(_logger, deleted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.StoreWriteFailed(_logger, 0, 1, ex);
        }
    }

    public void Dispose() => _wake.Dispose();

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
