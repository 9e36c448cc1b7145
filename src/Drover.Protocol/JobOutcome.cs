namespace Drover.Protocol;

/// <summary>How a job ended, in <see cref="JobResult"/>.</summary>
public enum JobOutcome : byte
{
    /// <summary>The handler ran and exited; see <see cref="JobResult.ExitCode"/>.</summary>
    Completed = 0,

    /// <summary>The handler was killed at the job's timeout.</summary>
    TimedOut = 1,

    /// <summary>The content did not match its SHA-256; nothing was run.</summary>
    HashMismatch = 2,

    /// <summary>The handler could not be started.</summary>
    StartFailed = 3,

    /// <summary>The hub cancelled the job (<see cref="JobCancel"/>).</summary>
    Cancelled = 4,
}
