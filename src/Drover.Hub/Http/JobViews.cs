using System.Text;
using Drover.Api;
using Drover.Storage;

namespace Drover.Hub.Http;

/// <summary>A stored job as the API shows it, with its latest result's figures.</summary>
internal static class JobViews
{
    public static async Task<JobView> ToJobViewAsync(IJobStore store, JobRecord job, CancellationToken cancellationToken)
    {
        // Only a job that was dispatched can have a result.
        var result = job.Attempt > 0 ? await store.GetResultAsync(job.Id, withOutFile: false, cancellationToken).ConfigureAwait(false) : null;
        return new JobView(
            job.Id,
            job.State,
            job.FileName,
            job.FileSize,
            Convert.ToHexStringLower(job.Sha256),
            job.Target,
            job.Args,
            job.Priority,
            (long)job.Timeout.TotalMilliseconds,
            job.MaxRetries,
            job.Attempt,
            job.LeaseOwner ?? job.LastAgent,
            job.SubmittedAt,
            job.FinishedAt,
            job.DeadReason,
            result?.Outcome,
            result?.ExitCode,
            result?.DurationMs,
            result is null ? null : DecodeTail(result.StdoutTail),
            result is null ? null : DecodeTail(result.StderrTail));
    }

    /// <summary>UTF-8 with invalid bytes (a tail may start mid-character) replaced by U+FFFD.</summary>
    public static string DecodeTail(byte[] tail) => Encoding.UTF8.GetString(tail);
}
