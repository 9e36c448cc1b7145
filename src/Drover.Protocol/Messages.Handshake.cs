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

/// <summary>Agent to hub, during a session: replace the agent key the agent's id is bound to with
/// <see cref="NewKey"/> (docs/protocol.md, "Agent keys"). The hub answers with <see cref="KeyExpiry"/> once the new key
/// is stored; until the agent has that answer it keeps the old key, which the hub accepts for a while after the rotation.</summary>
public sealed record KeyRotate(string NewKey) : Message
{
    public override MessageType Type => MessageType.KeyRotate;

    public override int PayloadSize => Protocol.PayloadSize.Of(NewKey);

    public override void WritePayload(ref PayloadWriter writer) => writer.WriteString(NewKey);

    internal static KeyRotate Read(ref PayloadReader reader) => new(reader.ReadString());
}

/// <summary>Hub to agent, after the welcome of a hello with an agent key whose credential expires, and as the answer to
/// <see cref="KeyRotate"/>: the agent's current key was issued at <see cref="IssuedUnixMs"/> and stops working at
/// <see cref="ExpiresUnixMs"/> (0: never). An agent rotates its key before then.</summary>
public sealed record KeyExpiry(long IssuedUnixMs, long ExpiresUnixMs) : Message
{
    public override MessageType Type => MessageType.KeyExpiry;

    public override int PayloadSize => 16;

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU64((ulong)IssuedUnixMs);
        writer.WriteU64((ulong)ExpiresUnixMs);
    }

    internal static KeyExpiry Read(ref PayloadReader reader) => new((long)reader.ReadU64(), (long)reader.ReadU64());
}
