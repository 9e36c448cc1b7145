using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

/// <summary>Retention: deleting finished jobs with everything that belongs to them, in bounded transactions.</summary>
public sealed partial class SqliteJobStore
{
    /// <inheritdoc/>
    /// <remarks>Five statements on the prepared commands, each selecting the same jobs through the partial index
    /// <c>jobs_finished</c> (migration 2 → 3): content, results, attempts and stale results first, the jobs last.
    /// The cost is proportional to the rows deleted, not to the size of the table; the hub keeps
    /// <paramref name="limit"/> small enough (10,000) that its group commit never waits long behind a prune.</remarks>
    public Task<int> PruneFinishedAsync(DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ThrowIfNotReady();
        return _writer.InTransactionAsync(
            async (commands, transaction, ct) =>
            {
                int deleted = 0;
                foreach (string sql in JobSql.Prune)
                {
                    deleted = await commands.Get(sql, transaction)
                        .Bind("$before", SqliteType.Integer, JobSql.ToColumn(finishedBefore))
                        .Bind("$limit", SqliteType.Integer, limit)
                        .ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return deleted;
            },
            $"the pruning of up to {limit} jobs finished before {finishedBefore:O}",
            cancellationToken);
    }
}
