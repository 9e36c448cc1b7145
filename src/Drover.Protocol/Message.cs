namespace Drover.Protocol;

/// <summary>A protocol message. Each subtype knows its exact payload size and how to write it;
/// <see cref="FrameCodec"/> adds the 5-byte frame header.</summary>
public abstract record Message
{
    public abstract MessageType Type { get; }

    /// <summary>The exact number of payload bytes <see cref="WritePayload"/> writes.</summary>
    public abstract int PayloadSize { get; }

    public abstract void WritePayload(ref PayloadWriter writer);
}
