namespace Drover.Cli;

/// <summary>The exit codes of the operator commands (send, jobs, job, result, cancel).</summary>
internal static class ExitCodes
{
    /// <summary>Everything worked (with send --wait: every job is done).</summary>
    public const int Ok = 0;

    /// <summary>send --wait: at least one job ended dead or cancelled.</summary>
    public const int JobsFailed = 1;

    /// <summary>Wrong flags or arguments, a missing or unreadable file: nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>The hub could not be reached, did not answer in time, or answered an error.</summary>
    public const int Hub = 3;
}
