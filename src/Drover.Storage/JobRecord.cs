namespace Drover.Storage;

/// <summary>The names of a job's states, as stored and as shown everywhere.</summary>
public static class JobStates
{
    /// <summary>Accepted and waiting for an agent.</summary>
    public const string Queued = "queued";

    /// <summary>Leased to an agent for one attempt.</summary>
    public const string Running = "running";

    /// <summary>Finished with a successful result. Final.</summary>
    public const string Done = "done";

    /// <summary>Failed on its last allowed attempt. Final; <see cref="JobRecord.DeadReason"/> says why.</summary>
    public const string Dead = "dead";

    /// <summary>Cancelled while queued or running. Final.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>True for the final states (<see cref="Done"/>, <see cref="Dead"/>, <see cref="Cancelled"/>): the job changes no more.</summary>
    public static bool IsFinal(string state) => state is Done or Dead or Cancelled;

    /// <summary>Every state, in the order a job goes through them.</summary>
    public static IReadOnlyList<string> All { get; } = [Queued, Running, Done, Dead, Cancelled];
}

/// <summary>One job: a small file the hub sends to an agent to run, and where it stands.</summary>
public sealed record JobRecord
{
    /// <summary>The largest <see cref="Content"/> a job may carry: 16 MiB.</summary>
    public const int MaxContentBytes = 16 * 1024 * 1024;

    public required string Id { get; init; }

    /// <summary>One of the <see cref="JobStates"/> names.</summary>
    public string State { get; init; } = JobStates.Queued;

    /// <summary>Higher runs first.</summary>
    public int Priority { get; init; }

    /// <summary>Where it may run: "random", "least-loaded", "agent:ID" or "label:k=v".</summary>
    public string Target { get; init; } = "random";

    public string FileName { get; init; } = string.Empty;

    public long FileSize { get; init; }

    /// <summary>The SHA-256 of the file (32 bytes). The store finds a file it already holds by this hash (jobs with the
    /// same file share one copy), so it checks the hash against the bytes it is given.</summary>
    public byte[] Sha256 { get; init; } = [];

    /// <summary>The file itself, at most <see cref="MaxContentBytes"/>. Empty in listings, in what
    /// <see cref="IJobStore.LoadActiveAsync"/> returns, and in a submission whose <see cref="ContentFile"/> is set.</summary>
    public byte[] Content { get; init; } = [];

    /// <summary>For a submission only: a file that holds the content (<see cref="FileSize"/> bytes, at most
    /// <see cref="MaxContentBytes"/>), which the store copies in bounded chunks inside the submission's transaction, so that
    /// a large file never has to be in memory whole; <see cref="Content"/> must then be empty. The caller owns the file
    /// (and deletes it once the submission has returned). Null otherwise, and in every record the store returns.</summary>
    public string? ContentFile { get; init; }

    public string Args { get; init; } = string.Empty;

    public TimeSpan Timeout { get; init; }

    /// <summary>How many times a failed attempt is retried: at most <c>MaxRetries + 1</c> attempts in all.</summary>
    public int MaxRetries { get; init; }

    /// <summary>The number of its latest dispatch: 0 before the first, 1 for the first.</summary>
    public int Attempt { get; init; }

    /// <summary>The agent that holds the lease while it is running; null otherwise.</summary>
    public string? LeaseOwner { get; init; }

    /// <summary>When the lease runs out while it is running; null otherwise.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>The agent of its latest finished or abandoned attempt.</summary>
    public string? LastAgent { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When it became done, dead or cancelled.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Why it is dead: the error (or outcome) of its last attempt, or the requeue reason.</summary>
    public string? DeadReason { get; init; }
}

/// <summary>What an agent reported for one attempt of a job.</summary>
public sealed record JobResultRecord
{
    public required string JobId { get; init; }

    /// <summary>The attempt it reports on; compared with <see cref="JobRecord.Attempt"/>.</summary>
    public int Attempt { get; init; }

    public string AgentId { get; init; } = string.Empty;

    /// <summary>The agent's verdict, for example "ok", "exit-nonzero", "timeout", "error".</summary>
    public string Outcome { get; init; } = string.Empty;

    public int? ExitCode { get; init; }

    public long DurationMs { get; init; }

    public byte[] StdoutTail { get; init; } = [];

    public byte[] StderrTail { get; init; } = [];

    /// <summary>The output file, if the job produced one.</summary>
    public byte[] OutFile { get; init; } = [];

    public string Error { get; init; } = string.Empty;

    public DateTimeOffset RecordedAt { get; init; }
}

/// <summary>What <see cref="IJobStore.RecordResultAsync"/> did with a result.</summary>
public enum ResultRecording
{
    /// <summary>It was the first result for the job's current running attempt: stored, and the job moved on.</summary>
    Recorded = 0,
    /// <summary>This (job, attempt) was already recorded; nothing changed.</summary>
    Duplicate = 1,
    /// <summary>It is not for the job's current attempt (an older one, one never dispatched, or one given up by
    /// <see cref="IJobStore.RequeueAsync"/>); kept in the stale results for the record, the job unchanged.</summary>
    StaleAttempt = 2,
    /// <summary>No such job; nothing stored.</summary>
    UnknownJob = 3,
    /// <summary>It is for the current attempt but the job is not running (cancelled, or never leased); nothing changed.</summary>
    NotRunning = 4,
}
