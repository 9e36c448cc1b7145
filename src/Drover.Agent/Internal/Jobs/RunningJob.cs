namespace Drover.Agent.Internal.Jobs;

/// <summary>A job between job_accepted and its result. <see cref="Task"/> is set by the read loop right after the answer.</summary>
internal sealed class RunningJob(JobKey key, CancellationTokenSource cancellation)
{
    public JobKey Key { get; } = key;

    /// <summary>Fires on job_cancel and when the agent stops (linked to the stop source). Disposed by the job's task.</summary>
    public CancellationTokenSource Cancellation { get; } = cancellation;

    public Task? Task { get; set; }

    /// <summary>The file, from the job frame until the job's task has written it (then cleared).</summary>
    public ReadOnlyMemory<byte> Content { get; set; }
}
