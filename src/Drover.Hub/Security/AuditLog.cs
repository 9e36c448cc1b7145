using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Security;

/// <summary>What operators did (submit, cancel, make and revoke tokens), each entry written to the
/// <see cref="IAccessStore"/> after the action succeeded, and logged (event 602). An entry the store cannot take is logged
/// as an error (603) and the action stands: refusing a committed action because its audit line failed would lose it.
/// <para>Retention: entries older than <paramref name="keep"/> are deleted at the hub's start and, at most once an hour, when
/// an entry is recorded (operators' actions are rare; no timer of its own).</para></summary>
internal sealed class AuditLog(IAccessStore store, TimeSpan keep, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromHours(1);
    private long _prunedAtTicks = long.MinValue;

    public IAccessStore Store => store;

    public async Task RecordAsync(ApiCaller caller, string source, string action, string target, string detail, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var entry = new AuditRecord(0, now, caller.Actor, source, action, LogText.Escape(target), LogText.Escape(detail));
        Log.Audit(logger, entry.Actor, source, action, entry.Target, entry.Detail);
        try
        {
            await store.AppendAuditAsync(entry, cancellationToken).ConfigureAwait(false);
            if (now.UtcTicks - Interlocked.Read(ref _prunedAtTicks) >= PruneEvery.Ticks)
            {
                await PruneAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (StoreException ex)
        {
            Log.AuditFailed(logger, action, entry.Target, ex.Message);
        }
    }

    /// <summary>Deletes the entries older than the retention.</summary>
    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        Interlocked.Exchange(ref _prunedAtTicks, now.UtcTicks);
        await store.PruneAuditAsync(now - keep, cancellationToken).ConfigureAwait(false);
    }
}
