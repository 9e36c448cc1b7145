namespace Drover.Protocol;

/// <summary>An agent's status report. <see cref="Sequence"/> increases by one per report within an
/// agent's lifetime; the hub acknowledges each recorded report with <see cref="StatusAck"/>.</summary>
public sealed record Status(
    ulong Sequence,
    AgentState State,
    byte Progress,
    IReadOnlyList<KeyValuePair<string, FieldValue>> Fields) : Message
{
    public override MessageType Type => MessageType.Status;

    public override int PayloadSize
    {
        get
        {
            Protocol.PayloadSize.CheckCount(Fields.Count, "status field list");
            var size = 8 + 1 + 1 + 2;
            foreach (var (key, value) in Fields)
            {
                size += Protocol.PayloadSize.Of(key) + value.EncodedSize;
            }

            return size;
        }
    }

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU64(Sequence);
        writer.WriteU8((byte)State);
        writer.WriteU8(Progress);
        writer.WriteU16(checked((ushort)Fields.Count));
        foreach (var (key, value) in Fields)
        {
            writer.WriteString(key);
            value.Write(ref writer);
        }
    }

    /// <summary>Checks a status payload exactly as decoding would (same errors), plus the field cap,
    /// without allocating: the hub validates every report this way and keeps the bytes.</summary>
    public static ulong Validate(ReadOnlySpan<byte> payload, int maxFields)
    {
        var reader = new PayloadReader(payload);
        var sequence = reader.ReadU64();
        ReadStateAndProgress(ref reader);
        var count = reader.ReadU16();
        if (count > maxFields)
        {
            throw new ProtocolException(ErrorCode.InvalidStatus, $"status has {count} fields; the limit is {maxFields}");
        }

        for (var i = 0; i < count; i++)
        {
            reader.SkipString();
            FieldValue.Skip(ref reader);
        }

        reader.EnsureEnd(MessageType.Status);
        return sequence;
    }

    private static (AgentState State, byte Progress) ReadStateAndProgress(ref PayloadReader reader)
    {
        var state = reader.ReadU8();
        if (state > (byte)AgentState.Draining)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"unknown agent state {state}");
        }

        var progress = reader.ReadU8();
        if (progress > 100 && progress != ProtocolConstants.NoProgress)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"progress must be 0-100 or 255, got {progress}");
        }

        return ((AgentState)state, progress);
    }

    internal static Status Read(ref PayloadReader reader)
    {
        var sequence = reader.ReadU64();
        var (state, progress) = ReadStateAndProgress(ref reader);
        var count = reader.ReadU16();
        if (count * 3 > reader.Remaining)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"status claims {count} fields but only {reader.Remaining} bytes remain");
        }

        var fields = new KeyValuePair<string, FieldValue>[count];
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadString();
            fields[i] = new(key, FieldValue.Read(ref reader));
        }

        return new Status(sequence, state, progress, fields);
    }
}

/// <summary>The hub recorded the status report with this sequence number.</summary>
public sealed record StatusAck(ulong Sequence) : Message
{
    public override MessageType Type => MessageType.StatusAck;

    public override int PayloadSize => 8;

    public override void WritePayload(ref PayloadWriter writer) => writer.WriteU64(Sequence);

    internal static StatusAck Read(ref PayloadReader reader) => new(reader.ReadU64());
}

/// <summary>Either side may ping; the other answers with a pong carrying the same value.</summary>
public sealed record Ping(ulong Value) : Message
{
    public override MessageType Type => MessageType.Ping;

    public override int PayloadSize => 8;

    public override void WritePayload(ref PayloadWriter writer) => writer.WriteU64(Value);

    internal static Ping Read(ref PayloadReader reader) => new(reader.ReadU64());
}

/// <summary>The answer to <see cref="Ping"/>.</summary>
public sealed record Pong(ulong Value) : Message
{
    public override MessageType Type => MessageType.Pong;

    public override int PayloadSize => 8;

    public override void WritePayload(ref PayloadWriter writer) => writer.WriteU64(Value);

    internal static Pong Read(ref PayloadReader reader) => new(reader.ReadU64());
}
