namespace Drover.Protocol;

/// <summary>The hub sheds load: the agent closes this connection and reconnects no sooner than
/// <see cref="RetryAfterMs"/>.</summary>
public sealed record Backoff(uint RetryAfterMs, string Reason) : Message
{
    public override MessageType Type => MessageType.Backoff;

    public override int PayloadSize => 4 + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU32(RetryAfterMs);
        writer.WriteString(Reason);
    }

    internal static Backoff Read(ref PayloadReader reader) => new(reader.ReadU32(), reader.ReadString());
}

/// <summary>The agent replaces its hub list with <see cref="Hubs"/> ("host:port" each), closes this
/// connection and connects to its preferred hub from the new list.</summary>
public sealed record Redirect(IReadOnlyList<string> Hubs, string Reason) : Message
{
    public override MessageType Type => MessageType.Redirect;

    public override int PayloadSize => Protocol.PayloadSize.Of(Hubs) + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteList(Hubs);
        writer.WriteString(Reason);
    }

    internal static Redirect Read(ref PayloadReader reader) => new(reader.ReadList(), reader.ReadString());
}

/// <summary>The hub changed the report interval (for example it stretched it as the fleet grew)
/// or the agent's slot in it.</summary>
public sealed record Reschedule(uint IntervalMs, uint SlotOffsetMs) : Message
{
    public override MessageType Type => MessageType.Reschedule;

    public override int PayloadSize => 8;

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU32(IntervalMs);
        writer.WriteU32(SlotOffsetMs);
    }

    internal static Reschedule Read(ref PayloadReader reader) => new(reader.ReadU32(), reader.ReadU32());
}

/// <summary>Sent by either side just before it closes the connection, with the reason.</summary>
public sealed record Bye(ErrorCode Code, string Reason) : Message
{
    public override MessageType Type => MessageType.Bye;

    public override int PayloadSize => 2 + Protocol.PayloadSize.Of(Reason);

    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteU16((ushort)Code);
        writer.WriteString(Reason);
    }

    internal static Bye Read(ref PayloadReader reader) => new((ErrorCode)reader.ReadU16(), reader.ReadString());
}
