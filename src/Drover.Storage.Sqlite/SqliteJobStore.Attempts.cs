using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite;

public sealed partial class SqliteJobStore
{
    /// <inheritdoc/>
    public Task<IReadOnlyList<JobAttemptRecord>> ListAttemptsAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        return ReadAsync(
            async (connection, ct) =>
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = "SELECT attempt, agent_id, outcome, exit_code, error, from_result, recorded_at FROM job_attempts WHERE job_id = $id ORDER BY attempt";
                command.Bind("$id", SqliteType.Text, jobId);
                var attempts = new List<JobAttemptRecord>();
                using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    attempts.Add(new JobAttemptRecord(
                        jobId,
                        reader.GetInt32(0),
                        reader.IsDBNull(1) ? null : reader.GetString(1),
                        reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetInt32(3),
                        reader.GetString(4),
                        reader.GetInt64(5) != 0,
                        JobSql.TimeFromColumn(reader.GetInt64(6))));
                }

                return (IReadOnlyList<JobAttemptRecord>)attempts;
            },
            cancellationToken);
    }
}
