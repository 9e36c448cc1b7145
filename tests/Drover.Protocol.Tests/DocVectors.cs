namespace Drover.Protocol.Tests;

/// <summary>The messages behind the "### Vector:" blocks of docs/protocol.md, by vector name.
/// <see cref="DocVectorTests"/> checks the doc and this table against each other, both ways.</summary>
internal static class DocVectors
{
    public static readonly IReadOnlyDictionary<string, Message> Expected = new Dictionary<string, Message>(StringComparer.Ordinal)
    {
        ["hello"] = new Hello(
            MinVersion: 1,
            MaxVersion: 1,
            AgentId: "edge-01",
            Credential: "s3cret",
            AgentVersion: "1.0.0",
            Labels: new Dictionary<string, string>(StringComparer.Ordinal) { ["site"] = "lyon", ["rack"] = "r7" },
            Capabilities: ["files", "shell"],
            JobSlots: 4),
        ["hello-empty-collections"] = new Hello(1, 3, "a", "", "", new Dictionary<string, string>(), [], 0),
        ["hello-agent-key"] = new Hello(1, 1, "a", "", "", new Dictionary<string, string>(), [], 0, "k3y-0123456789ab"),
        ["welcome"] = new Welcome(
            Version: 1,
            SessionEpoch: 42,
            IntervalMs: 60_000,
            SlotOffsetMs: 17_250,
            HubTimeUnixMs: 1_767_225_600_000,
            MaxFrameSize: 65_536,
            MaxStatusFields: 64,
            HubId: "hub-a"),
        ["refuse"] = new Refuse(ErrorCode.UnsupportedVersion, 0, "hub speaks versions 1-1"),
        ["refuse-overloaded"] = new Refuse(ErrorCode.Overloaded, 5_000, "busy"),
        ["status"] = new Status(1, AgentState.Idle, ProtocolConstants.NoProgress, []),
        ["status-all-kinds"] = new Status(
            Sequence: 7,
            State: AgentState.Busy,
            Progress: 42,
            Fields:
            [
                new("load1", FieldValue.From(0.5)),
                new("jobs", FieldValue.From(3L)),
                new("ok", FieldValue.From(true)),
                new("note", FieldValue.From("hé")),
                new("gone", FieldValue.Null),
            ]),
        ["status-job-agent"] = new Status(
            Sequence: 3,
            State: AgentState.Busy,
            Progress: ProtocolConstants.NoProgress,
            Fields:
            [
                new("jobs_in_flight", FieldValue.From(1L)),
                new("job_slots", FieldValue.From(1L)),
            ]),
        ["status-extremes"] = new Status(
            Sequence: ulong.MaxValue,
            State: AgentState.Draining,
            Progress: 100,
            Fields:
            [
                new("min", FieldValue.From(long.MinValue)),
                new("neg", FieldValue.From(-2.5)),
                new("off", FieldValue.From(false)),
                new("empty", FieldValue.From("")),
            ]),
        ["status-ack"] = new StatusAck(7),
        ["ping"] = new Ping(0x0102030405060708),
        ["pong"] = new Pong(0x0102030405060708),
        ["backoff"] = new Backoff(30_000, "slow down"),
        ["redirect"] = new Redirect(["hub-b:7400", "10.0.0.12:7400"], "rebalance"),
        ["reschedule"] = new Reschedule(120_000, 45_500),
        ["key-rotate"] = new KeyRotate("n3w-key-0123456789"),
        ["key-expiry"] = new KeyExpiry(1_767_225_600_000, 1_775_001_600_000),
        ["bye"] = new Bye(ErrorCode.None, "bye"),
        ["bye-unicode"] = new Bye(ErrorCode.ShuttingDown, "arrêt 停止 🚜"),
        ["job"] = new Job(
            JobId: "j-42",
            Attempt: 1,
            DeadlineUnixMs: 1_767_225_660_000,
            TimeoutMs: 30_000,
            FileName: "hi.sh",
            Sha256: System.Security.Cryptography.SHA256.HashData("echo hi\n"u8),
            Args: "-v",
            Content: "echo hi\n"u8.ToArray()),
        ["job-accepted"] = new JobAccepted("j-42", 1),
        ["job-busy"] = new JobBusy("j-42", 1, "no free slot"),
        ["job-result"] = new JobResult(
            JobId: "j-42",
            Attempt: 1,
            Outcome: JobOutcome.Completed,
            ExitCode: 0,
            DurationMs: 1_250,
            StdoutTail: "hi\n"u8.ToArray(),
            StderrTail: "w"u8.ToArray(),
            OutFile: "ok"u8.ToArray(),
            Error: ""),
        ["job-result-timeout"] = new JobResult("j-42", 2, JobOutcome.TimedOut, 137, 30_000, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, "killed at the timeout of 30000 ms"),
        ["job-result-start-failed"] = new JobResult("j-42", 1, JobOutcome.StartFailed, -1, 0, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, "could not write the input file: No space left on device"),
        ["job-result-ack"] = new JobResultAck("j-42", 1),
        ["job-cancel"] = new JobCancel("j-42", 1, "cancelled"),
        ["job-cancel-not-leased"] = new JobCancel("j-42", 3, "no longer leased to this agent"),
    };
}
