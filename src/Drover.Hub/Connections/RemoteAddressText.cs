using System.Net;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>A connection's remote address as logs and the registry show it.</summary>
internal static class RemoteAddressText
{
    /// <summary>"IP:port"; "unknown" when the socket has none or is already disposed (a close decided elsewhere, the
    /// hub's stop for one, may log while the session's read loop ends and disposes the socket).</summary>
    public static string Of(Socket socket)
    {
        try
        {
            return (socket.RemoteEndPoint as IPEndPoint)?.ToString() ?? "unknown";
        }
        catch (ObjectDisposedException)
        {
            return "unknown";
        }
    }

    /// <summary>The remote IP address; <see cref="IPAddress.None"/> when the socket has none or is already disposed.</summary>
    public static IPAddress AddressOf(Socket socket)
    {
        try
        {
            return (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            return IPAddress.None;
        }
    }
}
