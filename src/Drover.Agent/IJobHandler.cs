namespace Drover.Agent;

/// <summary>Runs one job on an agent. Set it in <see cref="AgentOptions.JobHandler"/>; the agent calls it once
/// per accepted job, up to <see cref="AgentOptions.JobSlots"/> at a time, each on its own task.
/// <para>The agent has already verified the file's SHA-256 and written it to <see cref="JobContext.FilePath"/>.
/// Whatever the handler writes to <see cref="JobContext.OutPath"/> goes back to the hub with the result.</para>
/// <para>The token fires at the job's timeout, when the hub cancels the job, or when the agent stops: stop
/// promptly, then either return (the tails returned are sent with outcome TimedOut or Cancelled) or throw
/// <see cref="OperationCanceledException"/>. Any other exception means the job could not be run: the agent
/// reports outcome StartFailed with the exception's message.</para></summary>
public interface IJobHandler
{
    /// <summary>Runs <paramref name="job"/> and returns how it ended.</summary>
    ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken);
}
