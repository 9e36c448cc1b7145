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

    private bool SendFinal(Message message)
    {
        var size = FrameCodec.GetFrameSize(message);
        byte[]? rented = null;
        var buffer = size <= StackFrameLimit ? stackalloc byte[StackFrameLimit] : (rented = ArrayPool<byte>.Shared.Rent(size));
        try
        {
            FrameCodec.Write(message, buffer);
            lock (_socket)
            {
                var sent = _socket.Send(buffer[..size], SocketFlags.None, out var error);
                return error == SocketError.Success && sent == size;
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
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
