namespace Drover.Storage;

/// <summary>One ended attempt of a job: on which agent, how it ended (a result's outcome and exit code, or why the hub
/// gave up on it: a lease that expired, the agent that left, job_busy), and when. <see cref="FromResult"/>: the agent
/// sent a result for it (else the hub ended it).</summary>
public sealed record JobAttemptRecord(string JobId, int Attempt, string? AgentId, string Outcome, int? ExitCode, string Error, bool FromResult, DateTimeOffset RecordedAt);
