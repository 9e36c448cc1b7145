using Microsoft.Extensions.Logging;

namespace Drover.Hub;

/// <summary>Every log line the hub writes. Event ids: 1xx lifecycle, 2xx sessions, 3xx liveness and
/// scheduling, 4xx store, 5xx jobs.</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Information, "Hub {HubId} listening for agents on {AgentEndPoint}; HTTP API on {HttpUrl}")]
    public static partial void Started(ILogger logger, string hubId, string agentEndPoint, string httpUrl);

    [LoggerMessage(101, LogLevel.Information, "Open-files limit: soft {SoftBefore} -> {SoftAfter}, hard {Hard}; this hub can hold about {Capacity} agents")]
    public static partial void OpenFilesLimit(ILogger logger, ulong softBefore, ulong softAfter, ulong hard, long capacity);

    [LoggerMessage(102, LogLevel.Information, "Loaded {Count} agents from the store; nobody is marked lost before {GraceUntil:O} (managed restart)")]
    public static partial void Loaded(ILogger logger, int count, DateTimeOffset graceUntil);

    [LoggerMessage(103, LogLevel.Information, "Hub stopping: closing {Sessions} sessions")]
    public static partial void Stopping(ILogger logger, int sessions);

    [LoggerMessage(104, LogLevel.Error, "Accepting an agent connection failed: {Error}; the accept loop pauses {PauseMs} ms and goes on (further failures are counted and logged once a minute)")]
    public static partial void AcceptFailed(ILogger logger, string error, long pauseMs, Exception? exception);

    [LoggerMessage(105, LogLevel.Information, "Agent connections: at most {MaxConnections} at once ({Source}), of which at most {MaxPending} without a finished handshake; beyond either the newest is reset")]
    public static partial void ConnectionCaps(ILogger logger, int maxConnections, string source, int maxPending);

    [LoggerMessage(106, LogLevel.Error, "Accepting agent connections failed {Count} more times in the last {Seconds:F0} s: {Error}")]
    public static partial void AcceptFailedRepeatedly(ILogger logger, long count, double seconds, string error);

    [LoggerMessage(200, LogLevel.Debug, "Agent {AgentId} connected from {Address} (epoch {Epoch}, new {IsNew})")]
    public static partial void AgentConnected(ILogger logger, string agentId, string address, ulong epoch, bool isNew);

    [LoggerMessage(201, LogLevel.Debug, "Session of {AgentId} from {Address} ended: {Reason} ({Detail})")]
    public static partial void SessionEnded(ILogger logger, string agentId, string address, DisconnectReason reason, string detail);

    [LoggerMessage(202, LogLevel.Warning, "Closed connection from {Address}: {Reason} ({Detail}); more from this address for this reason are counted and logged once a minute")]
    public static partial void BadPeer(ILogger logger, string address, DisconnectReason reason, string detail);

    [LoggerMessage(203, LogLevel.Information, "Refused hello from {Address} for agent '{AgentId}': {Code} ({Detail})")]
    public static partial void Refused(ILogger logger, string address, string agentId, Drover.Protocol.ErrorCode code, string detail);

    [LoggerMessage(204, LogLevel.Error, "Session from {Address} failed inside the hub")]
    public static partial void SessionBug(ILogger logger, string address, Exception exception);

    [LoggerMessage(205, LogLevel.Information, "Admission: {Waiting} agents hold a reconnect slot; next retry-after {RetryAfterMs} ms")]
    public static partial void AdmissionBusy(ILogger logger, int waiting, long retryAfterMs);

    [LoggerMessage(206, LogLevel.Warning, "Reset a new connection from {Address}: {Reason}; {Open} connections open (cap {MaxConnections}), {Pending} without a finished handshake (cap {MaxPending}). Further ones are counted and logged once a minute")]
    public static partial void ConnectionRefused(ILogger logger, string address, string reason, int open, int maxConnections, int pending, int maxPending);

    [LoggerMessage(207, LogLevel.Warning, "Reset {Count} more new connections in the last {Seconds:F0} s: {Reason}; {Open} connections open (cap {MaxConnections}), {Pending} without a finished handshake (cap {MaxPending})")]
    public static partial void ConnectionsRefused(ILogger logger, long count, double seconds, string reason, int open, int maxConnections, int pending, int maxPending);

    [LoggerMessage(208, LogLevel.Warning, "Closed {Count} more connections from {Source} in the last {Seconds:F0} s: {Reason} (latest: {Detail})")]
    public static partial void BadPeers(ILogger logger, long count, string source, double seconds, DisconnectReason reason, string detail);

    [LoggerMessage(209, LogLevel.Warning, "Agent id {AgentId} flaps between sources {SourceA} and {SourceB}: {Count} takeovers of a live session since the last such line (3 or more within {WindowMinutes} min); two agents probably share this id, give each its own --id or --state-dir")]
    public static partial void AgentIdFlaps(ILogger logger, string agentId, string sourceA, string sourceB, int count, int windowMinutes);

    [LoggerMessage(210, LogLevel.Warning, "Connections from {Source} are over the per-source rate ({Rate}/s, burst {Burst}): {Action}. More from this source are counted and logged once a minute")]
    public static partial void OverSourceRate(ILogger logger, string source, int rate, int burst, string action);

    [LoggerMessage(211, LogLevel.Warning, "{Count} more connections from {Source} over the per-source rate in the last {Seconds:F0} s (latest: {Detail})")]
    public static partial void OverSourceRateRepeatedly(ILogger logger, long count, string source, double seconds, string detail);

    [LoggerMessage(212, LogLevel.Warning, "Refused hello from {Address} for agent '{AgentId}': {Code} ({Detail}). More refusals for authentication from this source are counted and logged once a minute")]
    public static partial void AuthRefused(ILogger logger, string address, string agentId, Drover.Protocol.ErrorCode code, string detail);

    [LoggerMessage(213, LogLevel.Warning, "Refused {Count} more hellos from {Source} for authentication in the last {Seconds:F0} s (latest: {Detail})")]
    public static partial void AuthRefusedRepeatedly(ILogger logger, long count, string source, double seconds, string detail);

    [LoggerMessage(214, LogLevel.Warning, "Agent id {AgentId} flaps: {Detail}. Its hellos are refused with RateLimited until then, counted and logged once a minute")]
    public static partial void ReconnectFlapping(ILogger logger, string agentId, string detail);

    [LoggerMessage(215, LogLevel.Warning, "Refused {Count} more hellos of agent id {AgentId} for flapping in the last {Seconds:F0} s (latest: {Detail})")]
    public static partial void ReconnectFlappingRepeatedly(ILogger logger, long count, string agentId, double seconds, string detail);

    [LoggerMessage(300, LogLevel.Information, "Report interval is now {IntervalMs} ms for {Agents} connected agents (cap {MaxPerSecond} reports/s)")]
    public static partial void IntervalChanged(ILogger logger, uint intervalMs, int agents, int maxPerSecond);

    [LoggerMessage(301, LogLevel.Information, "Liveness: {Late} late, {Lost} lost, {Stale} stale, {Retired} retired in this sweep")]
    public static partial void SweepChanges(ILogger logger, int late, int lost, int stale, int retired);

    [LoggerMessage(302, LogLevel.Information, "Connection burst settled at {Agents} agents: GC committed memory {BeforeMiB} MiB -> {AfterMiB} MiB")]
    public static partial void TrimmedAfterBurst(ILogger logger, int agents, long beforeMiB, long afterMiB);

    [LoggerMessage(400, LogLevel.Error, "Status write of {Agents} agents failed ({Failures} failures since the last such line); nothing is dropped: the latest status of each agent stays in memory, next try in {RetryMs} ms. {Error}")]
    public static partial void StoreWriteFailed(ILogger logger, int agents, int failures, long retryMs, string error, Exception? exception);

    [LoggerMessage(401, LogLevel.Information, "Status writes recovered after {Failures} failures in {Seconds:F1} s")]
    public static partial void StoreRecovered(ILogger logger, int failures, double seconds);

    [LoggerMessage(402, LogLevel.Debug, "Pruned {Deleted} status history samples and agent events")]
    public static partial void HistoryPruned(ILogger logger, int deleted);

    [LoggerMessage(403, LogLevel.Error, "Pruning the status history failed ({Failures} store failures since the last such line); it is tried again in a minute. {Error}")]
    public static partial void HistoryPruneFailed(ILogger logger, int failures, string error, Exception? exception);

    [LoggerMessage(500, LogLevel.Error, "Job store commit of {Changes} changes failed ({Failures} failures since the last such line); submitters get the error, leases are not made, results are retried. {Error}")]
    public static partial void JobCommitFailed(ILogger logger, int changes, int failures, string error, Exception? exception);

    [LoggerMessage(501, LogLevel.Information, "Job store commits recovered after {Failures} failures in {Seconds:F1} s")]
    public static partial void JobCommitRecovered(ILogger logger, int failures, double seconds);

    [LoggerMessage(502, LogLevel.Information, "Loaded {Queued} queued and {Running} running jobs from the store")]
    public static partial void JobsLoaded(ILogger logger, int queued, int running);

    [LoggerMessage(503, LogLevel.Information, "Job {JobId} is dead after attempt {Attempt}: {Reason}")]
    public static partial void JobDead(ILogger logger, string jobId, int attempt, string reason);

    [LoggerMessage(504, LogLevel.Information, "Job {JobId} attempt {Attempt} given up and queued again: {Reason}")]
    public static partial void JobRequeued(ILogger logger, string jobId, int attempt, string reason);

    [LoggerMessage(505, LogLevel.Information, "Job {JobId} cancelled")]
    public static partial void JobCancelled(ILogger logger, string jobId);

    [LoggerMessage(506, LogLevel.Information, "Pruned {Jobs} finished jobs (finished before {FinishedBefore:O}) in {Batches} transactions, {Milliseconds:F0} ms")]
    public static partial void JobsPruned(ILogger logger, int jobs, DateTimeOffset finishedBefore, int batches, double milliseconds);

    [LoggerMessage(507, LogLevel.Error, "Pruning finished jobs failed ({Failures} store failures since the last such line); it is tried again in a minute. {Error}")]
    public static partial void JobPruneFailed(ILogger logger, int failures, string error, Exception? exception);

    [LoggerMessage(508, LogLevel.Information, "Pruning finished jobs recovered after {Failures} failures in {Seconds:F1} s")]
    public static partial void JobPruneRecovered(ILogger logger, int failures, double seconds);

    [LoggerMessage(509, LogLevel.Warning, "Refused {Message} from agent {AgentId} for job {JobId} attempt {Attempt}, which is leased to agent {OwnerId}: not acted on ({Count} such messages since the last line, at most one line a minute)")]
    public static partial void ForeignJobMessage(ILogger logger, string message, string agentId, string jobId, long attempt, string ownerId, int count);

    [LoggerMessage(510, LogLevel.Error, "Reading the files of {Jobs} jobs from the store to send them failed ({Failures} failures since the last such line); the jobs go back to the queue and dispatch pauses a second. {Error}")]
    public static partial void JobContentReadFailed(ILogger logger, int jobs, int failures, string error, Exception? exception);

    [LoggerMessage(511, LogLevel.Information, "Deleted {Count} upload spool files that an earlier run left in {Directory}")]
    public static partial void UploadsLeftOver(ILogger logger, int count, string directory);
    [LoggerMessage(600, LogLevel.Information, "The bootstrap admin token for the HTTP API is in {Path} (mode 0600): the CLI reads it with --api-token-file {Path} or DROVER_API_TOKEN_FILE; delete the file and restart to replace it")]
    public static partial void AdminTokenFile(ILogger logger, string path);

    [LoggerMessage(605, LogLevel.Warning, "HTTP API refused a request from {Source} ({Reason}): {Detail}; more from there for the same reason are counted and summed up once a minute (event 601)")]
    public static partial void ApiRefusedFirst(ILogger logger, string source, string reason, string detail);

    [LoggerMessage(601, LogLevel.Warning, "HTTP API refused {Count} requests from {Source} ({Reason}) over the last {Seconds:F0} s; the latest: {Detail} (one line per source and reason a minute)")]
    public static partial void ApiRefused(ILogger logger, long count, string source, string reason, double seconds, string detail);

    [LoggerMessage(602, LogLevel.Information, "Audit: {Actor} from {Source}: {Action} {Target} {Detail}")]
    public static partial void Audit(ILogger logger, string actor, string source, string action, string target, string detail);

    [LoggerMessage(603, LogLevel.Error, "The audit entry for {Action} {Target} could not be stored (the action stands): {Error}")]
    public static partial void AuditFailed(ILogger logger, string action, string target, string error);

    [LoggerMessage(604, LogLevel.Warning, "The configured admin token {TokenId} is revoked and stays so: configure a new one (drover tokens generate)")]
    public static partial void ProvisionedTokenRevoked(ILogger logger, string tokenId);
    [LoggerMessage(606, LogLevel.Error, "{Count} agent key bindings could not be stored (they hold until the hub stops; the agents bind again after a restart): {Error}")]
    public static partial void AgentKeysNotStored(ILogger logger, int count, string error);

    [LoggerMessage(607, LogLevel.Information, "Agent {AgentId} enrolled from {Source} with join token {TokenId}: {State}")]
    public static partial void AgentEnrolled(ILogger logger, string agentId, string source, string tokenId, string state);

    [LoggerMessage(608, LogLevel.Warning, "Agent {AgentId}'s credential was revoked: its session from {Source} is closed")]
    public static partial void AgentRevokedDisconnected(ILogger logger, string agentId, string source);

    [LoggerMessage(609, LogLevel.Warning, "Open agents (--open-agents): whoever reaches the agent port is let in as any agent id not bound to a key, without a credential, and is sent that id's jobs")]
    public static partial void OpenAgents(ILogger logger);

    [LoggerMessage(610, LogLevel.Information, "Agent {AgentId} rotated its key; the new one works until {Expires}")]
    public static partial void AgentKeyRotated(ILogger logger, string agentId, string expires);
}
