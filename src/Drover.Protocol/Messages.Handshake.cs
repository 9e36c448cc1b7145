namespace Drover.Protocol;

/// <summary>The agent's first frame: who it is and which protocol versions it speaks. <see cref="AgentKey"/>, the agent's
/// own secret that the hub binds its id to at the first hello that carries one (docs/protocol.md, Agent keys), is an
/// optional last field: written only when not empty, so a hello without it is byte for byte what it always was.</summary>
public sealed record Hello(
    ushort MinVersion,
    ushort MaxVersion,
    string AgentId,
    string Credential,
    string AgentVersion,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<string> Capabilities,
    ushort JobSlots,
    string AgentKey = "") : Message
{
    public override MessageType Type => MessageType.Hello;

    public override int PayloadSize =>
        4 + 2 + 2 + Protocol.PayloadSize.Of(AgentId) + Protocol.PayloadSize.Of(Credential) + Protocol.PayloadSize.Of(AgentVersion)
        + Protocol.PayloadSize.Of(Labels) + Protocol.PayloadSize.Of(Capabilities) + 2 + (AgentKey.Length == 0 ? 0 : Protocol.PayloadSize.Of(AgentKey));

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU32(ProtocolConstants.HelloMagic);
        writer.WriteU16(MinVersion);
        writer.WriteU16(MaxVersion);
        writer.WriteString(AgentId);
        writer.WriteString(Credential);
        writer.WriteString(AgentVersion);
        writer.WriteMap(Labels);
        writer.WriteList(Capabilities);
        writer.WriteU16(JobSlots);
        if (AgentKey.Length > 0)
        {
            writer.WriteString(AgentKey);
        }
    }

    internal static Hello Read(ref PayloadReader reader)
    {
        var magic = reader.ReadU32();
        if (magic != ProtocolConstants.HelloMagic)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"hello must start with the magic 0x{ProtocolConstants.HelloMagic:X8}, got 0x{magic:X8}");
        }

        return new Hello(
            reader.ReadU16(),
            reader.ReadU16(),
            reader.ReadString(),
            reader.ReadString(),
            reader.ReadString(),
            reader.ReadMap(),
            reader.ReadList(),
            reader.ReadU16(),
            reader.Remaining > 0 ? reader.ReadString() : string.Empty);
    }
}

/// <summary>The hub's answer to an accepted hello: the session's terms.</summary>
public sealed record Welcome(
    ushort Version,
    ulong SessionEpoch,
    uint IntervalMs,
    uint SlotOffsetMs,
    long HubTimeUnixMs,
    uint MaxFrameSize,
    ushort MaxStatusFields,
    string HubId) : Message
{
    public override MessageType Type => MessageType.Welcome;

    public override int PayloadSize => 2 + 8 + 4 + 4 + 8 + 4 + 2 + Protocol.PayloadSize.Of(HubId);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU16(Version);
        writer.WriteU64(SessionEpoch);
        writer.WriteU32(IntervalMs);
        writer.WriteU32(SlotOffsetMs);
        writer.WriteI64(HubTimeUnixMs);
        writer.WriteU32(MaxFrameSize);
        writer.WriteU16(MaxStatusFields);
        writer.WriteString(HubId);
    }

    internal static Welcome Read(ref PayloadReader reader) => new(
        reader.ReadU16(),
        reader.ReadU64(),
        reader.ReadU32(),
        reader.ReadU32(),
        reader.ReadI64(),
        reader.ReadU32(),
        reader.ReadU16(),
        reader.ReadString());
}

/// <summary>The hub's answer to a hello it does not accept. The hub closes the connection after it.</summary>
public sealed record Refuse(ErrorCode Code, uint RetryAfterMs, string Reason) : Message
{
    public override MessageType Type => MessageType.Refuse;

    public override int PayloadSize => 2 + 4 + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU16((ushort)Code);
        writer.WriteU32(RetryAfterMs);
        writer.WriteString(Reason);
    }

    internal static Refuse Read(ref PayloadReader reader) => new((ErrorCode)reader.ReadU16(), reader.ReadU32(), reader.ReadString());
}
