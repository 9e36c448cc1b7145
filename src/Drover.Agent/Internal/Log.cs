using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal;

/// <summary>Every log line of the agent library. Event ids: 1000-1019 connection lifecycle,
/// 1020-1039 reports and schedule, 1040-1059 status content, 1060-1079 jobs.</summary>
internal static partial class Log
{
    // 1000-1019: connection lifecycle
    [LoggerMessage(1000, LogLevel.Debug, "Agent {AgentId} connecting to {Hub}")]
    public static partial void Connecting(ILogger logger, string agentId, string hub);

    [LoggerMessage(1001, LogLevel.Information, "Agent {AgentId} connected to {Hub} (hub {HubId}, protocol v{Version}, interval {IntervalMs} ms, slot {SlotOffsetMs} ms, clock offset {ClockOffsetMs} ms)")]
    public static partial void Connected(ILogger logger, string agentId, string hub, string hubId, ushort version, long intervalMs, long slotOffsetMs, long clockOffsetMs);

    [LoggerMessage(1002, LogLevel.Information, "Agent {AgentId} disconnected from {Hub}: {Reason} ({Detail}); next attempt in {RetryInMs} ms")]
    public static partial void Disconnected(ILogger logger, string agentId, string hub, DisconnectReason reason, string detail, long retryInMs);

    [LoggerMessage(1010, LogLevel.Warning, "Agent {AgentId} did not trust {Hub}, nothing was sent: {Detail}; next attempt in {RetryInMs} ms")]
    public static partial void HubNotTrusted(ILogger logger, string agentId, string hub, string detail, long retryInMs);

    [LoggerMessage(1011, LogLevel.Warning, "Agent {AgentId} talks to its hubs in plain TCP (--insecure): the hub is not authenticated and nothing is encrypted")]
    public static partial void Insecure(ILogger logger, string agentId);

    [LoggerMessage(1003, LogLevel.Warning, "Agent {AgentId} refused by {Hub}: {Code} {Reason} (retry after {RetryAfterMs} ms)")]
    public static partial void Refused(ILogger logger, string agentId, string hub, ErrorCode code, string reason, uint retryAfterMs);

    [LoggerMessage(1004, LogLevel.Error, "Agent {AgentId} refused by {Hub} for good: {Code} {Reason}")]
    public static partial void RefusedPermanently(ILogger logger, string agentId, string hub, ErrorCode code, string reason);

    [LoggerMessage(1005, LogLevel.Information, "Agent {AgentId} redirected by {Hub} to [{Hubs}]: {Reason}")]
    public static partial void Redirected(ILogger logger, string agentId, string hub, string hubs, string reason);

    [LoggerMessage(1006, LogLevel.Warning, "Agent {AgentId} ignored redirect to '{Entry}': {Error}")]
    public static partial void BadRedirectEntry(ILogger logger, string agentId, string entry, string error);

    [LoggerMessage(1007, LogLevel.Information, "Agent {AgentId} stopping; said bye to {Hub}")]
    public static partial void Stopping(ILogger logger, string agentId, string hub);

    [LoggerMessage(1008, LogLevel.Debug, "Agent {AgentId} could not say bye to {Hub}: {Error}")]
    public static partial void ByeFailed(ILogger logger, string agentId, string hub, string error);

    [LoggerMessage(1009, LogLevel.Warning, "Agent {AgentId} got a protocol error from {Hub}: {Code} {Error}")]
    public static partial void ProtocolError(ILogger logger, string agentId, string hub, ErrorCode code, string error);

    // 1020-1039: reports and schedule
    [LoggerMessage(1020, LogLevel.Information, "Agent {AgentId} rescheduled by {Hub}: interval {IntervalMs} ms, slot {SlotOffsetMs} ms")]
    public static partial void Rescheduled(ILogger logger, string agentId, string hub, long intervalMs, long slotOffsetMs);

    [LoggerMessage(1021, LogLevel.Trace, "Agent {AgentId} sent status {Sequence} to {Hub}")]
    public static partial void ReportSent(ILogger logger, string agentId, ulong sequence, string hub);

    [LoggerMessage(1022, LogLevel.Debug, "Agent {AgentId} sent {Count} backlogged status samples to {Hub}")]
    public static partial void BacklogSent(ILogger logger, string agentId, int count, string hub);

    [LoggerMessage(1023, LogLevel.Warning, "Agent {AgentId} status backlog is full ({Capacity}); dropping the oldest samples")]
    public static partial void BacklogFull(ILogger logger, string agentId, int capacity);

    // 1040-1059: status content
    [LoggerMessage(1040, LogLevel.Warning, "Agent {AgentId} status has {Count} fields; the hub allows {Max}, so the extra fields are dropped")]
    public static partial void FieldsDropped(ILogger logger, string agentId, int count, int max);

    [LoggerMessage(1041, LogLevel.Warning, "Agent {AgentId} status provider failed; the report goes out without its fields: {Error}")]
    public static partial void StatusProviderFailed(ILogger logger, string agentId, string error);

    // 1060-1079: jobs
    [LoggerMessage(1060, LogLevel.Debug, "Agent {AgentId} accepted job {JobId} attempt {Attempt} ({Size} bytes, timeout {TimeoutMs} ms)")]
    public static partial void JobAccepted(ILogger logger, string agentId, string jobId, uint attempt, int size, uint timeoutMs);

    [LoggerMessage(1061, LogLevel.Debug, "Agent {AgentId} answered busy to job {JobId} attempt {Attempt}: {Reason}")]
    public static partial void JobBusy(ILogger logger, string agentId, string jobId, uint attempt, string reason);

    [LoggerMessage(1062, LogLevel.Information, "Agent {AgentId} finished job {JobId} attempt {Attempt}: {Outcome}, exit code {ExitCode}, {DurationMs} ms {Error}")]
    public static partial void JobFinished(ILogger logger, string agentId, string jobId, uint attempt, JobOutcome outcome, int exitCode, uint durationMs, string error);

    [LoggerMessage(1063, LogLevel.Debug, "Agent {AgentId} result of job {JobId} attempt {Attempt} acknowledged")]
    public static partial void JobAcknowledged(ILogger logger, string agentId, string jobId, uint attempt);

    [LoggerMessage(1064, LogLevel.Information, "Agent {AgentId} cancelling job {JobId} attempt {Attempt} at the request of {Hub}: {Reason}")]
    public static partial void JobCancelled(ILogger logger, string agentId, string hub, string jobId, uint attempt, string reason);

    [LoggerMessage(1065, LogLevel.Debug, "Agent {AgentId} ignored a cancel for job {JobId} attempt {Attempt}: not held here")]
    public static partial void JobCancelIgnored(ILogger logger, string agentId, string jobId, uint attempt);

    [LoggerMessage(1066, LogLevel.Information, "Agent {AgentId} re-announced {Running} running jobs and {Results} unacknowledged results to {Hub}")]
    public static partial void JobsReannounced(ILogger logger, string agentId, string hub, int running, int results);

    [LoggerMessage(1067, LogLevel.Warning, "Agent {AgentId} stopped with {Count} job handlers still exiting")]
    public static partial void JobsStillRunning(ILogger logger, string agentId, int count);

    [LoggerMessage(1068, LogLevel.Warning, "Agent {AgentId} could not delete job directory {Directory}: {Error}")]
    public static partial void JobDirectoryNotDeleted(ILogger logger, string agentId, string directory, string error);

    [LoggerMessage(1069, LogLevel.Warning, "Agent {AgentId} dropped the result of job {JobId} attempt {Attempt}: {Size} bytes do not fit the hub's frame limit of {MaxFrameSize} even without output tails and out file; the hub ends the attempt when its lease runs out")]
    public static partial void JobResultDropped(ILogger logger, string agentId, string jobId, uint attempt, int size, int maxFrameSize);

    [LoggerMessage(1070, LogLevel.Information, "Agent {AgentId} rotated its key: {Detail}")]
    public static partial void KeyRotated(ILogger logger, string agentId, string detail);

    [LoggerMessage(1071, LogLevel.Warning, "Agent {AgentId}: the hub does not know the key it was rotating to (the rotation never reached it); it keeps its current key and rotates again later")]
    public static partial void NextKeyUnknown(ILogger logger, string agentId);

    [LoggerMessage(1072, LogLevel.Warning, "Agent {AgentId} could not rotate its key, and tries again at its next session: {Error}")]
    public static partial void KeyRotationFailed(ILogger logger, string agentId, string error);
}
