using System.Buffers;
using System.Net.Sockets;
using Drover.Hub.Os;
using Drover.Protocol;

namespace Drover.Hub.Connections;

internal sealed partial class AgentConnection
{
    private const int InitialBufferSize = 4096;

    /// <summary>Results of one session being committed at once; beyond it the read loop waits (backpressure).</summary>
    private const int MaxPendingResults = 256;

    // Ownership: the read loop alone rents, grows and returns _buffer. It is returned whenever no
    // partial frame is pending (so an idle agent holds none) and when the loop ends.
    private byte[]? _buffer;
    private int _filled;

    /// <summary>The read loop: zero-byte receive while idle, then read, cut frames, handle them.</summary>
    public async Task RunAsync()
    {
        var endReason = DisconnectReason.AgentClosed;
        var endDetail = "connection closed by the agent";
        try
        {
            await _transport.AuthenticateAsync(_sessions.TlsOptions).ConfigureAwait(false);
            while (true)
            {
                if (_filled == 0)
                {
                    ReturnBuffer();
                    await _transport.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
                }

                EnsureCapacity(_filled + 1);
                var read = await _transport.ReceiveAsync(_buffer.AsMemory(_filled)).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                if (IsClosed)
                {
                    // Lingering after a bye or refusal: discard input until the agent closes.
                    _filled = 0;
                    continue;
                }

                _filled += read;
                try
                {
                    await ProcessFramesAsync().ConfigureAwait(false);
                }
                catch (ProtocolException ex)
                {
                    _filled = 0;
                    Close(DisconnectReason.ProtocolViolation, ex.Code, ex.Message);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException
            or System.Security.Authentication.AuthenticationException)
        {
            (endReason, endDetail) = _transport.DescribeFailure(ex);
        }
        catch (Exception ex)
        {
            Log.SessionBug(_sessions.Logger, RemoteAddress, ex);
            endReason = DisconnectReason.InternalError;
            endDetail = ex.Message;
            Close(DisconnectReason.InternalError, ErrorCode.InternalError, "internal error in the hub");
        }
        finally
        {
            ReturnBuffer();
            Close(endReason, null, endDetail);
            _transport.Dispose();
            _sessions.OnConnectionEnded(this);
        }
    }

    private async Task ProcessFramesAsync()
    {
        var offset = 0;
        try
        {
            while (!IsClosed && TryTakeMessage(ref offset, out var message))
            {
                if (message is null)
                {
                    continue;
                }

                // Only the hot path stays on a socket engine thread (SocketEngine): a hello (the store, a key check), a job
                // result (the group commit) and the rest of this read go on from the thread pool.
                await SocketEngine.LeaveEngineThreadUnless(hotPath: message is Ping or Pong);
                if (message is Hello hello)
                {
                    if (Entry is not null)
                    {
                        throw new ProtocolException(ErrorCode.UnexpectedMessage, "hello sent twice in one session");
                    }

                    await _sessions.HandleHelloAsync(this, hello).ConfigureAwait(false);
                }
                else if (message is JobResult result && Entry is not null)
                {
                    // Committed by the group commit and acknowledged when it is; the loop reads on meanwhile,
                    // unless this session already has many results waiting for their commit.
                    var committed = _sessions.Jobs.OnResultAsync(this, result);
                    if (!committed.IsCompleted && Volatile.Read(ref PendingResults) > MaxPendingResults)
                    {
                        await committed.ConfigureAwait(false);
                    }
                }
                else
                {
                    Dispatch(message);
                }
            }
        }
        finally
        {
            if (offset > 0 && !IsClosed)
            {
                _buffer.AsSpan(offset, _filled - offset).CopyTo(_buffer);
                _filled -= offset;
            }
        }
    }

    /// <summary>Cuts the next whole frame out of the buffer; false when more bytes are needed (the
    /// buffer is then grown to hold the announced frame, whose size was checked against the limit).</summary>
    private bool TryTakeMessage(ref int offset, out Message? message)
    {
        var available = _buffer.AsSpan(offset, _filled - offset);
        var limit = MaxReadFrameSize;
        if (!FrameCodec.TryReadHeader(available, limit, out var type, out var length))
        {
            message = null!;
            return false;
        }

        var frameSize = ProtocolConstants.HeaderSize + length;
        if (available.Length < frameSize)
        {
            if (offset + frameSize > _buffer!.Length)
            {
                // Make room now: compact, then grow if the frame is larger than the buffer.
                available.CopyTo(_buffer);
                _filled = available.Length;
                offset = 0;
                EnsureCapacity(frameSize);
            }

            message = null!;
            return false;
        }

        var payload = available.Slice(ProtocolConstants.HeaderSize, length);
        offset += frameSize;
        if (type == MessageType.Status && Entry is not null)
        {
            // The hot path: validated and recorded from the buffer, never decoded into objects.
            _sessions.OnStatus(this, payload);
            message = null!;
            return true;
        }

        message = FrameCodec.Decode(type, payload);
        return true;
    }

    private void Dispatch(Message message)
    {
        if (Entry is null)
        {
            if (message is Bye)
            {
                Close(DisconnectReason.AgentClosed, null, "bye before hello");
                return;
            }

            throw new ProtocolException(ErrorCode.UnexpectedMessage, $"the first message must be hello, got {message.Type}");
        }

        switch (message)
        {
            case Ping ping:
                Send(new Pong(ping.Value));
                break;
            case Pong:
                break;
            case Bye bye:
                Close(DisconnectReason.AgentClosed, null, $"agent said bye: {bye.Code} {bye.Reason}");
                break;
            case JobAccepted or JobBusy or KeyRotate:
                _sessions.OnSessionMessage(this, message);
                break;
            default:
                throw new ProtocolException(ErrorCode.UnexpectedMessage, $"agents do not send {message.Type}");
        }
    }

    private void EnsureCapacity(int size)
    {
        if (_buffer is not null && _buffer.Length >= size)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(size, InitialBufferSize));
        if (_buffer is not null)
        {
            _buffer.AsSpan(0, _filled).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = larger;
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
