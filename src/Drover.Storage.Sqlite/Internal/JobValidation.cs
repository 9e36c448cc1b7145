using System.Security.Cryptography;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>The argument checks of the job store's writes, run before anything is written (an invalid item of a
/// batch fails the call with <see cref="ArgumentException"/>, as the single-change methods do).</summary>
internal static class JobValidation
{
    public static void ValidateSubmissions(IReadOnlyList<JobRecord> jobs)
    {
        for (int i = 0; i < jobs.Count; i++)
        {
            Validate(jobs[i]);
        }
    }

    public static void ValidateLease(string jobId, string agentId, int attempt)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentException.ThrowIfNullOrEmpty(agentId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attempt);
    }

    public static void ValidateResult(JobResultRecord result)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(result.JobId);
    }

    /// <summary>For a requeue or an expiry.</summary>
    public static void ValidateWithReason(string jobId, string reason)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentNullException.ThrowIfNull(reason);
    }

    private static void Validate(JobRecord job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (string.IsNullOrEmpty(job.Id))
        {
            throw new ArgumentException("A job record has no id.", nameof(job));
        }

        if (job.State != JobStates.Queued || job.Attempt != 0 || job.LeaseOwner is not null || job.LeaseExpiresAt is not null)
        {
            throw new ArgumentException($"Job '{job.Id}' is not a new job: it must be queued, at attempt 0, with no lease.", nameof(job));
        }

        if (job.Content is { Length: > JobRecord.MaxContentBytes })
        {
            throw new ArgumentException($"Job '{job.Id}' has {job.Content.Length} bytes of content; the limit is {JobRecord.MaxContentBytes}.", nameof(job));
        }

        if (job.ContentFile is not null && (job.Content is { Length: > 0 } || job.FileSize < 0 || job.FileSize > JobRecord.MaxContentBytes))
        {
            throw new ArgumentException($"Job '{job.Id}' has a content file: its Content must be empty and its FileSize ({job.FileSize}) between 0 and {JobRecord.MaxContentBytes}.", nameof(job));
        }

        // Jobs share a stored file by its hash (RecentContents): a job whose hash is not its file's could make a later job
        // with that hash be sent this file. A content file is checked as it is read (JobChanges), a file in memory here.
        if (job.Sha256 is not { Length: SHA256.HashSizeInBytes })
        {
            throw new ArgumentException($"Job '{job.Id}' has no SHA-256 of its file ({job.Sha256?.Length ?? 0} bytes, not {SHA256.HashSizeInBytes}).", nameof(job));
        }

        if (job.ContentFile is null && !SHA256.HashData(job.Content ?? []).AsSpan().SequenceEqual(job.Sha256))
        {
            throw new ArgumentException($"Job '{job.Id}': its SHA-256 is not that of its content.", nameof(job));
        }

        if (job.MaxRetries < 0 || job.Timeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"Job '{job.Id}' has a negative MaxRetries or Timeout.", nameof(job));
        }
    }
}
