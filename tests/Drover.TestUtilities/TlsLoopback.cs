using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Drover.Hub.Security;

namespace Drover.TestUtilities;

/// <summary>One TLS handshake over 127.0.0.1 against a hub identity with the hub's own server options
/// (<see cref="HubTlsIdentity.ServerOptions"/>), for tests of what a client accepts.</summary>
public static class TlsLoopback
{
    /// <summary>Accepts one connection and runs the server side of the handshake (a refusal by the client ends it
    /// quietly); connects, and hands the client's <see cref="SslStream"/> to <paramref name="client"/>, whose answer it
    /// returns once both sides are done.</summary>
    public static async Task<T> HandshakeAsync<T>(HubTlsIdentity server, Func<SslStream, CancellationToken, Task<T>> client)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(client);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var serverSide = Task.Run(async () =>
        {
            using var accepted = await listener.AcceptTcpClientAsync(timeout.Token);
            await using var ssl = new SslStream(accepted.GetStream());
            try
            {
                await ssl.AuthenticateAsServerAsync(server.ServerOptions(), timeout.Token);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                // The client refused the certificate.
            }
        });

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var ssl = new SslStream(tcp.GetStream());
        try
        {
            return await client(ssl, timeout.Token);
        }
        finally
        {
            tcp.Close();
            await serverSide;
        }
    }
}
