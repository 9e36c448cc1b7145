namespace Drover.Protocol;

/// <summary>The hub hands a job to an agent: the whole file inline, its SHA-256 and how to run it. The agent
/// answers at once with <see cref="JobAccepted"/> or <see cref="JobBusy"/>, verifies <see cref="Sha256"/>
/// before running anything, and reports with <see cref="JobResult"/>. <see cref="FileName"/> is metadata:
/// agents never use it as a path. Records compare <see cref="Sha256"/> and <see cref="Content"/> by reference:
/// compare encodings instead.</summary>
public sealed record Job(
    string JobId,
    uint Attempt,
    long DeadlineUnixMs,
    uint TimeoutMs,
    string FileName,
    byte[] Sha256,
    string Args,
    ReadOnlyMemory<byte> Content) : Message
{
    public override MessageType Type => MessageType.Job;

    public override int PayloadSize
    {
        get
        {
            if (Sha256.Length != ProtocolConstants.Sha256Length)
            {
                throw new ProtocolException(ErrorCode.Malformed, $"sha256 must be {ProtocolConstants.Sha256Length} bytes, got {Sha256.Length}");
            }

            return Protocol.PayloadSize.Of(JobId) + 4 + 8 + 4 + Protocol.PayloadSize.Of(FileName) + ProtocolConstants.Sha256Length
                + Protocol.PayloadSize.Of(Args) + Protocol.PayloadSize.OfBytes(Content.Length);
        }
    }

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
        writer.WriteI64(DeadlineUnixMs);
        writer.WriteU32(TimeoutMs);
        writer.WriteString(FileName);
        writer.WriteRaw(Sha256);
        writer.WriteString(Args);
        writer.WriteBytes(Content.Span);
    }

    internal static Job Read(ref PayloadReader reader) => new(
        reader.ReadString(),
        reader.ReadU32(),
        reader.ReadI64(),
        reader.ReadU32(),
        reader.ReadString(),
        reader.ReadRaw(ProtocolConstants.Sha256Length),
        reader.ReadString(),
        reader.ReadBytes());
}

/// <summary>The agent took the job (this attempt) and will report it with <see cref="JobResult"/>.</summary>
public sealed record JobAccepted(string JobId, uint Attempt) : Message
{
    public override MessageType Type => MessageType.JobAccepted;

    public override int PayloadSize => Protocol.PayloadSize.Of(JobId) + 4;

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
    }

    internal static JobAccepted Read(ref PayloadReader reader) => new(reader.ReadString(), reader.ReadU32());
}

/// <summary>The agent did not take the job (no free slot, draining…): the hub places it elsewhere.</summary>
public sealed record JobBusy(string JobId, uint Attempt, string Reason) : Message
{
    public override MessageType Type => MessageType.JobBusy;

    public override int PayloadSize => Protocol.PayloadSize.Of(JobId) + 4 + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
        writer.WriteString(Reason);
    }

    internal static JobBusy Read(ref PayloadReader reader) => new(reader.ReadString(), reader.ReadU32(), reader.ReadString());
}

/// <summary>How a job attempt ended. Idempotent per (<see cref="JobId"/>, <see cref="Attempt"/>): the agent keeps
/// it until <see cref="JobResultAck"/> arrives and sends it again after reconnecting. Records compare the byte
/// members by reference: compare encodings instead.</summary>
public sealed record JobResult(
    string JobId,
    uint Attempt,
    JobOutcome Outcome,
    int ExitCode,
    uint DurationMs,
    ReadOnlyMemory<byte> StdoutTail,
    ReadOnlyMemory<byte> StderrTail,
    ReadOnlyMemory<byte> OutFile,
    string Error) : Message
{
    public override MessageType Type => MessageType.JobResult;

    public override int PayloadSize =>
        Protocol.PayloadSize.Of(JobId) + 4 + 1 + 4 + 4 + Protocol.PayloadSize.OfBytes(StdoutTail.Length)
        + Protocol.PayloadSize.OfBytes(StderrTail.Length) + Protocol.PayloadSize.OfBytes(OutFile.Length) + Protocol.PayloadSize.Of(Error);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
        writer.WriteU8((byte)Outcome);
        writer.WriteI32(ExitCode);
        writer.WriteU32(DurationMs);
        writer.WriteBytes(StdoutTail.Span);
        writer.WriteBytes(StderrTail.Span);
        writer.WriteBytes(OutFile.Span);
        writer.WriteString(Error);
    }

    internal static JobResult Read(ref PayloadReader reader)
    {
        var jobId = reader.ReadString();
        var attempt = reader.ReadU32();
        var outcome = reader.ReadU8();
        if (outcome > (byte)JobOutcome.Cancelled)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"unknown job outcome {outcome}");
        }

        return new JobResult(
            jobId,
            attempt,
            (JobOutcome)outcome,
            reader.ReadI32(),
            reader.ReadU32(),
            reader.ReadBytes(),
            reader.ReadBytes(),
            reader.ReadBytes(),
            reader.ReadString());
    }
}

/// <summary>The hub recorded the result of this attempt; the agent may forget it. A duplicate result gets the same ack.</summary>
public sealed record JobResultAck(string JobId, uint Attempt) : Message
{
    public override MessageType Type => MessageType.JobResultAck;

    public override int PayloadSize => Protocol.PayloadSize.Of(JobId) + 4;

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
    }

    internal static JobResultAck Read(ref PayloadReader reader) => new(reader.ReadString(), reader.ReadU32());
}

/// <summary>The hub asks the agent to stop this attempt; the agent reports it with outcome
/// <see cref="JobOutcome.Cancelled"/> (or the result it already has).</summary>
public sealed record JobCancel(string JobId, uint Attempt, string Reason) : Message
{
    public override MessageType Type => MessageType.JobCancel;

    public override int PayloadSize => Protocol.PayloadSize.Of(JobId) + 4 + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(JobId);
        writer.WriteU32(Attempt);
        writer.WriteString(Reason);
    }

    internal static JobCancel Read(ref PayloadReader reader) => new(reader.ReadString(), reader.ReadU32(), reader.ReadString());
}
