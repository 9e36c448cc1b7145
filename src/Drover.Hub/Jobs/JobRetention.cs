using System.Diagnostics;
using Drover.Hub.Status;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>Retention: finished jobs (done, dead, cancelled) older than <see cref="HubOptions.KeepFinishedJobs"/> are
/// deleted from the store with everything that belongs to them, straight through the store like the status history
/// pruning (not through the group commit: nothing in memory changes, finished jobs are not in memory).</summary>
/// <remarks>
/// <para>The sweep starts a prune at most once per <see cref="PruneEvery"/>, and never while one is still running. A
/// prune deletes in transactions of <see cref="PruneBatch"/> jobs, repeated while a batch comes back full; between
/// batches the store's write lock is free and the group commit, if it waits, goes first (the store's lock is FIFO), so
/// a commit waits for at most one batch.</para>
/// <para>A store failure is logged through its own <see cref="StoreFailureLog"/> (not the group commit's: a prune
/// that fails must not hide or reset a commit streak) and the prune is tried again at the next minute.</para>
/// </remarks>
internal sealed class JobRetention
{
    /// <summary>How often the sweep prunes.</summary>
    internal static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);

    /// <summary>Jobs per prune transaction.</summary>
    internal const int PruneBatch = 10_000;

    private readonly IJobStore _store;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private StoreFailureLog? _pruneFailures;
    private long _lastPruneTicks;
    private int _pruning;
    private Task _prune = Task.CompletedTask;

    public JobRetention(IJobStore store, HubOptions options, ILogger<JobRetention> logger)
    {
        _store = store;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
    }

    /// <summary>The prune in progress, or the last one (tests wait for it).</summary>
    internal Task PruneTask => Volatile.Read(ref _prune);

    /// <summary>Called by the sweep: starts a prune when one is due and none is running. Only the sweep calls it.</summary>
    public void PruneIfDue(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now.UtcTicks - _lastPruneTicks < PruneEvery.Ticks || Interlocked.CompareExchange(ref _pruning, 1, 0) != 0)
        {
            return;
        }

        _lastPruneTicks = now.UtcTicks;
        Volatile.Write(ref _prune, PruneAsync(now - _options.KeepFinishedJobs, cancellationToken));
    }

    private async Task PruneAsync(DateTimeOffset finishedBefore, CancellationToken cancellationToken)
    {
        var failures = _pruneFailures ??= new StoreFailureLog(_time);
        var started = Stopwatch.GetTimestamp();
        var deleted = 0;
        var batches = 0;
        try
        {
            // Off the sweep's thread from the first statement on.
            await Task.Yield();
            while (true)
            {
                var batch = await _store.PruneFinishedAsync(finishedBefore, PruneBatch, cancellationToken).ConfigureAwait(false);
                deleted += batch;
                batches++;
                if (batch < PruneBatch)
                {
                    break;
                }

                // Let a waiting group commit take the store between two batches.
                await Task.Yield();
            }

            if (failures.Success(out var count, out var duration))
            {
                Log.JobPruneRecovered(_logger, count, duration.TotalSeconds);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException && cancellationToken.IsCancellationRequested)
        {
            // The hub is stopping.
        }
        catch (Exception ex)
        {
            if (failures.Failure(ex, out var count))
            {
                Log.JobPruneFailed(_logger, count, ex.Message, ex is StoreException { IsFull: true } ? null : ex);
            }
        }
        finally
        {
            if (deleted > 0)
            {
                Log.JobsPruned(_logger, deleted, finishedBefore, batches, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            Volatile.Write(ref _pruning, 0);
        }
    }
}
