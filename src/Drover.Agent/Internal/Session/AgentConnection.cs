using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Net;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.Agent.Internal.Session;

/// <summary>One TCP connection to a hub: a pipe reader that yields whole decoded messages, and a
/// serialized frame writer. The reader does zero-byte reads, so an idle connection holds no receive
/// buffer. Reads happen on one loop at a time; writes may come from any task (the write lock orders them).</summary>
internal sealed class AgentConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream; // the NetworkStream, or the SslStream over it
    private readonly PipeReader _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly int _maxFrameSize;
    private int _disposed;

    private AgentConnection(Socket socket, Stream stream, int maxFrameSize)
    {
        _socket = socket;
        _maxFrameSize = maxFrameSize;
        _stream = stream;
        // A job agent reads frames of up to 16 MiB: bigger segments mean fewer of them. Idle, either holds no buffer.
        var bufferSize = maxFrameSize > ProtocolConstants.DefaultMaxFrameSize ? 64 * 1024 : 4096;
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(
            bufferSize: bufferSize, minimumReadSize: 512, leaveOpen: true, useZeroByteReads: true));
    }

    /// <summary>Connects to <paramref name="address"/> and, unless <paramref name="trust"/> is
    /// <see cref="HubTrust.Insecure"/>, runs the TLS handshake and checks the hub by <paramref name="trust"/> before
    /// anything is sent; <paramref name="timeout"/> (on <paramref name="time"/>) bounds both. Frames from the hub larger
    /// than <paramref name="maxFrameSize"/> are refused (<see cref="ErrorCode.FrameTooLarge"/>). Throws
    /// <see cref="SocketException"/>, <see cref="TimeoutException"/>, or <see cref="HubNotTrustedException"/> with the
    /// reason the hub was not trusted.</summary>
    public static async Task<AgentConnection> ConnectAsync(HubAddress address, HubTrust trust, TimeSpan timeout, int maxFrameSize, TimeProvider time, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        Stream? stream = null;
        try
        {
            EndPoint endPoint = IPAddress.TryParse(address.Host, out var ip)
                ? new IPEndPoint(ip, address.Port)
                : new DnsEndPoint(address.Host, address.Port);
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (!trust.IsInsecure)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                var options = trust.ClientOptions(address.Host);
                string? refusal = null;
                options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    trust.Accepts(certificate as System.Security.Cryptography.X509Certificates.X509Certificate2, chain, errors, out refusal);
                try
                {
                    await tls.AuthenticateAsClientAsync(options, linked.Token).ConfigureAwait(false);
                }
                catch (AuthenticationException ex)
                {
                    throw new HubNotTrustedException(refusal is { Length: > 0 }
                        ? $"hub {address} is not trusted: {refusal}"
                        : $"TLS handshake with hub {address} failed: {ex.Message} (does it listen with TLS? --insecure is for a plain hub)", ex);
                }
            }

            return new AgentConnection(socket, stream, maxFrameSize);
        }
        catch (OperationCanceledException) when (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await DisposeAsync(stream, socket).ConfigureAwait(false);
            throw new TimeoutException($"connect to {address} timed out after {timeout.TotalMilliseconds:0} ms");
        }
        catch
        {
            await DisposeAsync(stream, socket).ConfigureAwait(false);
            throw;
        }
    }

    private static async ValueTask DisposeAsync(Stream? stream, Socket socket)
    {
        if (stream is not null)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }

        socket.Dispose();
    }

    /// <summary>Reads the next message. Returns null when the hub closed the connection cleanly between
    /// frames; throws <see cref="ProtocolException"/> for bad frames or a close in the middle of one.</summary>
    public async ValueTask<Message?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (FrameCodec.TryReadFrame(ref buffer, _maxFrameSize, out var type, out var payload))
            {
                // Decode copies everything the message keeps, so the buffer can be released right after.
                var message = FrameCodec.Decode(type, payload);
                _reader.AdvanceTo(buffer.Start);
                return message;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                var leftover = buffer.Length;
                _reader.AdvanceTo(buffer.End);
                if (leftover > 0)
                {
                    throw new ProtocolException(ErrorCode.Malformed, $"connection closed inside a frame ({leftover} bytes left)");
                }

                return null;
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Writes one whole frame. Concurrent callers are serialized.</summary>
    public async ValueTask SendAsync(Message message, CancellationToken cancellationToken)
    {
        // Ownership: the rented buffer is returned by this method after the write completed or failed.
        var size = FrameCodec.GetFrameSize(message);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            FrameCodec.Write(message, buffer.AsSpan(0, size));
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(buffer.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Lingering close after a bye: sends FIN, then discards input until the hub closes its side
    /// (or <paramref name="cancellationToken"/> fires), so that unread input cannot turn the close into a
    /// reset that would make the hub lose the bye.</summary>
    public async ValueTask CloseGracefullyAsync(CancellationToken cancellationToken)
    {
        _socket.Shutdown(SocketShutdown.Send);
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            _reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>Closes the socket at once; pending reads and writes fail.</summary>
    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Abort();
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _writeLock.Dispose();
    }
}
