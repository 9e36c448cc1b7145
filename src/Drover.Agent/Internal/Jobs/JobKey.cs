namespace Drover.Agent.Internal.Jobs;

/// <summary>A job attempt: what the hub's job, job_cancel and job_result_ack name.</summary>
internal readonly record struct JobKey(string JobId, uint Attempt);
