using System.Net;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>Opens the agent port: exclusively, so that a second hub on the same port fails at start instead of
/// splitting the fleet with the first.</summary>
internal static class AgentListener
{
    private const int SolSocket = 1;   // SOL_SOCKET on Linux
    private const int SoReuseAddr = 2; // SO_REUSEADDR on Linux

    /// <summary>Binds and listens on <paramref name="endPoint"/>. Throws <see cref="IOException"/> with one line naming
    /// the address when it is in use or cannot be bound.</summary>
    public static Socket Bind(IPEndPoint endPoint, int backlog)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone lets a restarted hub bind while old connections linger in TIME_WAIT. .NET's
            // SocketOptionName.ReuseAddress would also set SO_REUSEPORT on Linux, which lets a second process bind
            // the same port and take half of the new connections: never use it here.
            if (OperatingSystem.IsLinux())
            {
                socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            }

            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var reason = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the address is in use (another hub, or another program, listens there)",
                SocketError.AddressNotAvailable => "no interface of this machine has that address",
                SocketError.AccessDenied => "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)",
                _ => ex.Message,
            };
            throw new IOException($"cannot listen for agents on {endPoint}: {reason}", ex);
        }
    }
}
