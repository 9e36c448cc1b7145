using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Security;

/// <summary>What operators did (submit, cancel, make and revoke tokens), each entry written to the
/// <see cref="IAccessStore"/> after the action succeeded, and logged (event 602). An entry the store cannot take is logged
/// as an error (603) and the action stands: refusing a committed action because its audit line failed would lose it.</summary>
internal sealed class AuditLog(IAccessStore store, TimeProvider time, ILogger logger)
{
    public IAccessStore Store => store;

    public async Task RecordAsync(ApiCaller caller, string source, string action, string target, string detail, CancellationToken cancellationToken)
    {
        var entry = new AuditRecord(0, time.GetUtcNow(), caller.Actor, source, action, LogText.Escape(target), LogText.Escape(detail));
        Log.Audit(logger, entry.Actor, source, action, entry.Target, entry.Detail);
        try
        {
            await store.AppendAuditAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreException ex)
        {
            Log.AuditFailed(logger, action, entry.Target, ex.Message);
        }
    }
}
