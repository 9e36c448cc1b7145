using System.Buffers;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.Hub.Internal;

internal sealed partial class AgentConnection
{
    private const int StackFrameLimit = 512;

    /// <summary>Sends one frame now. Every frame the hub sends an agent is small (acks, pongs, control),
    /// so the one writer is a non-blocking send under the connection's lock: no queue, no task, no buffer
    /// held between frames. Backpressure policy: if the kernel's send buffer cannot take the whole frame,
    /// the agent is not reading, and it is disconnected as a slow consumer.</summary>
    public bool Send(Message message)
    {
        if (IsClosed)
        {
            return false;
        }

        if (!SendFinal(message))
        {
            Close(DisconnectReason.SlowConsumer, null, "send buffer full: the agent does not read");
            return false;
        }

        return true;
    }

    /// <summary>Acknowledges a report: the hot path's one frame, written without a message object.</summary>
    public void SendAck(ulong sequence)
    {
        if (IsClosed)
        {
            return;
        }

        Span<byte> frame = stackalloc byte[ProtocolConstants.HeaderSize + 8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, 8);
        frame[4] = (byte)MessageType.StatusAck;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(frame[ProtocolConstants.HeaderSize..], sequence);
        if (!SendBytes(frame))
        {
            Close(DisconnectReason.SlowConsumer, null, "send buffer full: the agent does not read");
        }
    }

    private bool SendBytes(ReadOnlySpan<byte> frame)
    {
        try
        {
            lock (_socket)
            {
                var sent = _socket.Send(frame, SocketFlags.None, out var error);
                return error == SocketError.Success && sent == frame.Length;
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private bool SendFinal(Message message)
    {
        var size = FrameCodec.GetFrameSize(message);
        byte[]? rented = null;
        var buffer = size <= StackFrameLimit ? stackalloc byte[StackFrameLimit] : (rented = ArrayPool<byte>.Shared.Rent(size));
        try
        {
            FrameCodec.Write(message, buffer);
            return SendBytes(buffer[..size]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
