using System.Buffers;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.Hub.Connections;

/// <summary>The one writer of a connection. Fast path: a non-blocking send under the connection's lock, which
/// takes the whole of any small frame (acks, pongs, control) while the agent reads: no queue, no task, no
/// buffer held between frames. Slow path, for job files (up to 16 MiB) or an agent that reads slowly: when
/// the kernel takes only part of a frame, or a backlog already exists, the rest goes into a per-connection
/// FIFO that an async drain loop writes; the loop exists only while there is a backlog. Order is preserved.
/// Backpressure policy: a backlog over <see cref="MaxBacklogBytes"/> means the agent does not read; it is
/// disconnected as a slow consumer.</summary>
/// <remarks>Buffer ownership: a buffer in the backlog belongs to the write path. The drain loop returns each
/// to the pool once it is written, and returns every remaining one when a send fails (the socket was shut
/// down or disposed). A frame's buffer rented by <see cref="Send"/> is either returned by it (the frame went
/// out whole, or was refused) or handed to the backlog as it is (no copy).</remarks>
internal sealed partial class AgentConnection
{
    private const int StackFrameLimit = 512;

    // Guarded by lock (_transport).
    private Queue<Segment>? _backlog;
    private long _backlogBytes;
    private bool _draining;
    private bool _shutdownAfterDrain;

    /// <summary>Bytes waiting in the outbound queue (for tests and diagnostics).</summary>
    public long BacklogBytes
    {
        get
        {
            lock (_transport)
            {
                return _backlogBytes;
            }
        }
    }

    /// <summary>The most bytes the outbound queue may hold: one job frame per slot plus one, since the hub
    /// never has more jobs in flight on an agent than it has slots (so more than that means it does not read);
    /// for an agent without job slots, four ordinary frames.</summary>
    private long MaxBacklogBytes => _jobSlots > 0
        ? (long)(_jobSlots + 1) * _sessions.Options.MaxJobFrameSize
        : 4L * Math.Max(_sessions.Options.MaxFrameSize, ProtocolConstants.DefaultMaxFrameSize);

    /// <summary>Sends one frame, now or through the outbound queue. False when the connection is closed, or
    /// was closed because the agent does not read.</summary>
    public bool Send(Message message)
    {
        if (IsClosed)
        {
            return false;
        }

        if (!SendFinal(message))
        {
            Close(DisconnectReason.SlowConsumer, null, "outbound queue full: the agent does not read");
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
        if (!SendBytes(frame, null))
        {
            Close(DisconnectReason.SlowConsumer, null, "outbound queue full: the agent does not read");
        }
    }

    /// <summary>Writes <paramref name="frame"/> or queues what the kernel did not take. <paramref name="owned"/>
    /// is the pooled buffer that holds the frame from index 0 (or null): it is handed to the queue or returned.</summary>
    private bool SendBytes(ReadOnlySpan<byte> frame, byte[]? owned)
    {
        var handedOver = false;
        try
        {
            lock (_transport)
            {
                var offset = 0;
                if (_transport.Handshaking)
                {
                    // Nothing can be said before the TLS handshake has finished (a close during it just shuts the socket).
                    return true;
                }

                if (!_draining && _transport.CanSendNow)
                {
                    var sent = _transport.SendNow(frame, out var error);
                    if (error == SocketError.WouldBlock)
                    {
                        sent = 0;
                    }
                    else if (error != SocketError.Success)
                    {
                        return false;
                    }

                    if (sent == frame.Length)
                    {
                        return true;
                    }

                    offset = sent;
                }

                var rest = frame.Length - offset;
                // One frame is always taken into an empty queue (a job loaded from an earlier run may be
                // larger than today's limit); beyond the bound the agent is not reading.
                if (_backlogBytes > 0 && _backlogBytes + rest > MaxBacklogBytes)
                {
                    return false;
                }

                Segment segment;
                if (owned is not null)
                {
                    segment = new Segment(owned, offset, rest);
                    handedOver = true;
                }
                else
                {
                    var copy = ArrayPool<byte>.Shared.Rent(rest);
                    frame[offset..].CopyTo(copy);
                    segment = new Segment(copy, 0, rest);
                }

                (_backlog ??= new Queue<Segment>()).Enqueue(segment);
                _backlogBytes += rest;
                if (!_draining)
                {
                    _draining = true;
                    _ = Task.Run(DrainAsync);
                }

                return true;
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (owned is not null && !handedOver)
            {
                ArrayPool<byte>.Shared.Return(owned);
            }
        }
    }

    /// <summary>Writes the backlog in order until it is empty, then ends (and shuts the send side if a close
    /// was waiting for it). On a send failure it returns every queued buffer and ends.</summary>
    private async Task DrainAsync()
    {
        try
        {
            while (true)
            {
                Segment segment;
                lock (_transport)
                {
                    if (_backlog is null || _backlog.Count == 0)
                    {
                        _backlog = null;
                        _draining = false;
                        if (_shutdownAfterDrain)
                        {
                            _transport.ShutdownSend();
                        }

                        return;
                    }

                    segment = _backlog.Peek();
                }

                var written = 0;
                while (written < segment.Length)
                {
                    written += await _transport.SendAsync(segment.Buffer.AsMemory(segment.Offset + written, segment.Length - written)).ConfigureAwait(false);
                }

                lock (_transport)
                {
                    _backlog!.Dequeue();
                    _backlogBytes -= segment.Length;
                }

                ArrayPool<byte>.Shared.Return(segment.Buffer);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            lock (_transport)
            {
                while (_backlog is not null && _backlog.TryDequeue(out var segment))
                {
                    ArrayPool<byte>.Shared.Return(segment.Buffer);
                }

                _backlog = null;
                _backlogBytes = 0;
                _draining = false;
            }

            Close(DisconnectReason.ConnectionReset, null, "send failed");
        }
    }

    private bool SendFinal(Message message)
    {
        var size = FrameCodec.GetFrameSize(message);
        if (size <= StackFrameLimit)
        {
            Span<byte> buffer = stackalloc byte[StackFrameLimit];
            FrameCodec.Write(message, buffer);
            return SendBytes(buffer[..size], null);
        }

        var rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            FrameCodec.Write(message, rented);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rented);
            throw;
        }

        return SendBytes(rented.AsSpan(0, size), rented);
    }

    /// <summary>Shuts the send side once what is queued has been written (at once when nothing is). A slow
    /// consumer's backlog is not waited for: the shutdown makes the drain loop fail and drop it.</summary>
    private void ShutdownSend(bool dropBacklog)
    {
        lock (_transport)
        {
            if (_draining && !dropBacklog)
            {
                _shutdownAfterDrain = true;
                return;
            }
        }

        _transport.ShutdownSend();
    }

    private readonly record struct Segment(byte[] Buffer, int Offset, int Length);
}
