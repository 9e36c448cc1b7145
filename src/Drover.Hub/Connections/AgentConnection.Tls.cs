using System.Net.Security;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>The TLS side of a connection (when the hub has a certificate: <see cref="HubOptions.Tls"/>). The TLS
/// handshake runs first in the read loop, inside the same handshake timeout as the hello (the sweep closes a connection
/// that has not said hello in time, whether or not its TLS handshake finished). After it every byte goes through the
/// <see cref="SslStream"/>: reads (zero-byte reads while idle, so an idle TLS session holds no read buffer either) and
/// writes, which always take the outbound queue's drain loop, since a TLS record cannot be half written without
/// blocking. Without TLS none of this exists and the socket is read and written directly.</summary>
internal sealed partial class AgentConnection
{
    // Set once, before the read loop starts; null for plain TCP.
    private SslStream? _tls;

    /// <summary>True when this connection is TLS (its handshake may not be finished yet).</summary>
    public bool IsTls => _tls is not null;

    /// <summary>Runs the TLS handshake when the hub has a certificate. False when it failed (the reason is logged by the
    /// caller's close); true for plain TCP.</summary>
    private async Task<bool> AuthenticateAsync()
    {
        if (_sessions.TlsOptions is not { } options)
        {
            return true;
        }

        // NetworkStream wants a blocking socket; only the plain path's synchronous sends need it non-blocking, and a TLS
        // connection never makes them (its writes are asynchronous).
        _socket.Blocking = true;
        _tls = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: true);
        await _tls.AuthenticateAsServerAsync(options, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    private ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
        _tls is null ? _socket.ReceiveAsync(buffer, SocketFlags.None) : _tls.ReadAsync(buffer);

    /// <summary>Writes all of <paramref name="buffer"/>, for the drain loop.</summary>
    private async ValueTask<int> SendAllAsync(ReadOnlyMemory<byte> buffer)
    {
        if (_tls is null)
        {
            return await _socket.SendAsync(buffer, SocketFlags.None).ConfigureAwait(false);
        }

        await _tls.WriteAsync(buffer).ConfigureAwait(false);
        return buffer.Length;
    }
}
