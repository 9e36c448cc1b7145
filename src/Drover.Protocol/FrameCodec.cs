using System.Buffers;
using System.Buffers.Binary;

namespace Drover.Protocol;

/// <summary>Frames: a 4-byte big-endian payload length, a 1-byte message type, then the payload.
/// Readers are pure and resumable: they return false when more bytes are needed, and throw
/// <see cref="ProtocolException"/> for input that can never become a valid frame.</summary>
public static class FrameCodec
{
    /// <summary>Reads one frame header and checks the length against <paramref name="maxFrameSize"/>
    /// before the body is waited for or allocated. Returns false if fewer than 5 bytes are available.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> buffer, int maxFrameSize, out MessageType type, out int payloadLength)
    {
        if (buffer.Length < ProtocolConstants.HeaderSize)
        {
            type = default;
            payloadLength = 0;
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(buffer);
        if (length > (uint)maxFrameSize)
        {
            throw new ProtocolException(ErrorCode.FrameTooLarge, $"frame payload of {length} bytes exceeds the limit of {maxFrameSize} bytes");
        }

        type = (MessageType)buffer[4];
        payloadLength = (int)length;
        return true;
    }

    /// <summary>Span form for callers that hold contiguous bytes (the hub's socket loop).</summary>
    public static bool TryReadFrame(ReadOnlySpan<byte> buffer, int maxFrameSize, out MessageType type, out ReadOnlySpan<byte> payload, out int consumed)
    {
        if (!TryReadHeader(buffer, maxFrameSize, out type, out var length)
            || buffer.Length - ProtocolConstants.HeaderSize < length)
        {
            payload = default;
            consumed = 0;
            return false;
        }

        payload = buffer.Slice(ProtocolConstants.HeaderSize, length);
        consumed = ProtocolConstants.HeaderSize + length;
        return true;
    }

    /// <summary>Sequence form for pipe readers: on success <paramref name="buffer"/> is advanced past the frame.
    /// The payload slices the caller's buffer: decode or copy it before advancing the reader.</summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out MessageType type, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        int length;
        if (buffer.FirstSpan.Length >= ProtocolConstants.HeaderSize)
        {
            if (!TryReadHeader(buffer.FirstSpan, maxFrameSize, out type, out length))
            {
                return false;
            }
        }
        else
        {
            Span<byte> header = stackalloc byte[ProtocolConstants.HeaderSize];
            if (buffer.Length < ProtocolConstants.HeaderSize)
            {
                type = default;
                return false;
            }

            buffer.Slice(0, ProtocolConstants.HeaderSize).CopyTo(header);
            TryReadHeader(header, maxFrameSize, out type, out length);
        }

        if (buffer.Length - ProtocolConstants.HeaderSize < length)
        {
            return false;
        }

        payload = buffer.Slice(ProtocolConstants.HeaderSize, length);
        buffer = buffer.Slice(ProtocolConstants.HeaderSize + length);
        return true;
    }

    /// <summary>Decodes one payload into its message. Unknown types and malformed payloads throw.</summary>
    public static Message Decode(MessageType type, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        Message message = type switch
        {
            MessageType.Hello => Hello.Read(ref reader),
            MessageType.Welcome => Welcome.Read(ref reader),
            MessageType.Refuse => Refuse.Read(ref reader),
            MessageType.KeyRotate => KeyRotate.Read(ref reader),
            MessageType.KeyExpiry => KeyExpiry.Read(ref reader),
            MessageType.Status => Status.Read(ref reader),
            MessageType.StatusAck => StatusAck.Read(ref reader),
            MessageType.Ping => Ping.Read(ref reader),
            MessageType.Pong => Pong.Read(ref reader),
            MessageType.Backoff => Backoff.Read(ref reader),
            MessageType.Redirect => Redirect.Read(ref reader),
            MessageType.Reschedule => Reschedule.Read(ref reader),
            MessageType.Bye => Bye.Read(ref reader),
            MessageType.Job => Job.Read(ref reader),
            MessageType.JobAccepted => JobAccepted.Read(ref reader),
            MessageType.JobBusy => JobBusy.Read(ref reader),
            MessageType.JobResult => JobResult.Read(ref reader),
            MessageType.JobResultAck => JobResultAck.Read(ref reader),
            MessageType.JobCancel => JobCancel.Read(ref reader),
            _ => throw new ProtocolException(ErrorCode.UnknownMessageType, $"unknown message type 0x{(byte)type:X2}"),
        };
        reader.EnsureEnd(type);
        return message;
    }

    /// <summary>Decodes a payload that may span several buffer segments.</summary>
    public static Message Decode(MessageType type, in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Decode(type, payload.FirstSpan);
        }

        // Ownership: the rented array lives only for this call; decoded messages copy what they keep.
        var length = (int)payload.Length;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            payload.CopyTo(rented);
            return Decode(type, rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The number of bytes <paramref name="message"/> takes on the wire, header included.</summary>
    public static int GetFrameSize(Message message) => ProtocolConstants.HeaderSize + message.PayloadSize;

    /// <summary>Writes the whole frame into <paramref name="destination"/>, which must hold
    /// <see cref="GetFrameSize"/> bytes; returns the bytes written.</summary>
    public static int Write(Message message, Span<byte> destination)
    {
        var payloadSize = message.PayloadSize;
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)payloadSize);
        destination[4] = (byte)message.Type;
        var writer = new PayloadWriter(destination.Slice(ProtocolConstants.HeaderSize, payloadSize));
        message.WritePayload(ref writer);
        if (writer.Position != payloadSize)
        {
            throw new InvalidOperationException($"{message.Type} wrote {writer.Position} bytes but declared {payloadSize}");
        }

        return ProtocolConstants.HeaderSize + payloadSize;
    }

    /// <summary>Writes the whole frame into a buffer writer (a <c>PipeWriter</c>, for instance).</summary>
    public static int Write(Message message, IBufferWriter<byte> output)
    {
        var size = GetFrameSize(message);
        var written = Write(message, output.GetSpan(size));
        output.Advance(written);
        return written;
    }

    /// <summary>The whole frame as a new array (tests, docs, rare messages).</summary>
    public static byte[] ToArray(Message message)
    {
        var bytes = new byte[GetFrameSize(message)];
        Write(message, bytes);
        return bytes;
    }
}
