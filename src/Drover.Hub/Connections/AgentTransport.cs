using System.Net.Security;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>The bytes under one agent connection: the socket, and the <see cref="SslStream"/> over it when the hub has a
/// certificate (<see cref="HubOptions.Tls"/>). Plain TCP is read and written on the socket directly, with synchronous
/// non-blocking sends on the connection's fast path. With TLS the handshake runs first (<see cref="AuthenticateAsync"/>,
/// inside the same handshake timeout as the hello), reads are <see cref="SslStream"/> zero-byte reads while idle (so an
/// idle TLS session holds no read buffer either), and every write is asynchronous (<see cref="CanSendNow"/> is false):
/// a TLS record cannot be half written without blocking. The instance is also the connection's write lock.</summary>
internal sealed class AgentTransport : IDisposable
{
    private readonly Socket _socket;

    // Set once, before the read loop reads; null for plain TCP.
    private SslStream? _tls;

    public AgentTransport(Socket socket) => _socket = socket;

    /// <summary>True while nothing may be written yet: a TLS handshake that has not finished.</summary>
    public bool Handshaking => _tls is { IsAuthenticated: false };

    /// <summary>True for plain TCP: <see cref="SendNow"/> may be used.</summary>
    public bool CanSendNow => _tls is null;

    /// <summary>The agent's address and port, for logs (<see cref="RemoteAddressText"/>: "unknown" once the socket is
    /// released).</summary>
    public string RemoteAddress => RemoteAddressText.Of(_socket);

    /// <summary>The agent's IP address (<see cref="System.Net.IPAddress.None"/> once the socket is released).</summary>
    public System.Net.IPAddress RemoteIPAddress => RemoteAddressText.AddressOf(_socket);

    /// <summary>Runs the TLS handshake with <paramref name="options"/>; nothing for plain TCP (null). Throws
    /// <see cref="System.Security.Authentication.AuthenticationException"/> or <see cref="IOException"/> when it fails.</summary>
    public async Task AuthenticateAsync(SslServerAuthenticationOptions? options)
    {
        if (options is null)
        {
            return;
        }

        // NetworkStream wants a blocking socket; only the plain path's synchronous sends need it non-blocking, and a TLS
        // connection never makes them.
        _socket.Blocking = true;
        _tls = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: true);
        await _tls.AuthenticateAsServerAsync(options, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Why the connection ended, from the I/O error that ended its read loop: a failed TLS handshake, or a reset.</summary>
    public (DisconnectReason Reason, string Detail) DescribeFailure(Exception error) => error switch
    {
        System.Security.Authentication.AuthenticationException => (DisconnectReason.TlsFailed, $"TLS handshake failed: {error.Message}"),
        IOException when Handshaking => (DisconnectReason.TlsFailed, $"TLS handshake failed: {error.Message}"),
        SocketException socket => (DisconnectReason.ConnectionReset, $"socket error {socket.SocketErrorCode}"),
        IOException { InnerException: SocketException socket } => (DisconnectReason.ConnectionReset, $"socket error {socket.SocketErrorCode}"),
        IOException => (DisconnectReason.ConnectionReset, error.Message),
        _ => (DisconnectReason.ConnectionReset, "connection closed by the hub"),
    };

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
        _tls is null ? _socket.ReceiveAsync(buffer, SocketFlags.None) : _tls.ReadAsync(buffer);

    /// <summary>A synchronous non-blocking send, plain TCP only (<see cref="CanSendNow"/>): how many bytes the kernel took.</summary>
    public int SendNow(ReadOnlySpan<byte> bytes, out SocketError error) => _socket.Send(bytes, SocketFlags.None, out error);

    /// <summary>Writes <paramref name="buffer"/>, for the drain loop; returns how many bytes went (all of them with TLS).</summary>
    public async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        if (_tls is null)
        {
            return await _socket.SendAsync(buffer, SocketFlags.None).ConfigureAwait(false);
        }

        await _tls.WriteAsync(buffer).ConfigureAwait(false);
        return buffer.Length;
    }

    /// <summary>Shuts the send side (the agent reads the end of the stream after what was written).</summary>
    public void ShutdownSend()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _tls?.Dispose();
    }
}
