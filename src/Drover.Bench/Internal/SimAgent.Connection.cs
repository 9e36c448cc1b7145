using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.Bench.Internal;

/// <summary>The simulated agent's connection: connect (and the TLS handshake when the fleet has a trust), write, close.</summary>
internal sealed partial class SimAgent
{
    /// <summary>Linux's <c>SOL_IP</c> and <c>IP_BIND_ADDRESS_NO_PORT</c> (linux/in.h).</summary>
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    /// <summary>A connected socket to the hub (from the fleet's source address for this agent), with <c>_tls</c> over it
    /// when the fleet speaks TLS.</summary>
    private async Task<Socket> ConnectAsync(CancellationToken stop)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _socket = socket;
        if (_fleet.SourceAddressFor(Index) is { } source)
        {
            if (OperatingSystem.IsLinux())
            {
                // The port is chosen at connect, unique per (source, hub) pair, not at bind among all of the address's.
                socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
            }

            socket.Bind(new IPEndPoint(source, 0));
        }

        await socket.ConnectAsync(_fleet.HubEndPoint, stop).ConfigureAwait(false);
        if (_fleet.Trust is { } trust)
        {
            _tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: true);
            // Every simulated agent makes a full handshake, as ten thousand machines would: no resumption from the
            // session cache this one process shares. (With resumption, the reports of a few simulated agents that
            // resumed stopped reaching the hub, cause not found; the real agent, which reads through a pipe and writes
            // asynchronously, resumes and reports on: HubTlsTests.Agents_that_reconnect_resume_their_TLS_session_and_report_on.)
            var options = trust.ClientOptions(_fleet.HubEndPoint.Address.ToString());
            options.AllowTlsResume = false;
            await _tls.AuthenticateAsClientAsync(options, stop).ConfigureAwait(false);
        }
        return socket;
    }

    /// <summary>Closes the connection. Reports still unacknowledged when a connection breaks were in
    /// flight to a hub that died (the only way connections break in a bench, since any other break
    /// is a failure the bench reports): they are counted apart from reports the hub lost.</summary>
    private void Disconnect()
    {
        Connected = false;
        var unacked = Interlocked.Read(ref Sent) - Interlocked.Read(ref Acked) - Interlocked.Read(ref InFlightAtKill);
        if (unacked > 0)
        {
            Interlocked.Add(ref InFlightAtKill, unacked);
        }

        _tls?.Dispose();
        _tls = null;
        _socket?.Dispose();
        _socket = null;
        _rxStart = 0;
        _rxFilled = 0;
        DropJobReplies();
    }

    /// <summary>Ends the agent: bye, then close.</summary>
    public void Close()
    {
        try
        {
            if (_socket is { } socket)
            {
                lock (_sendLock)
                {
                    Write(socket, FrameCodec.ToArray(new Bye(ErrorCode.None, "bench done")));
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
        }

        _tls?.Dispose();
        _socket?.Dispose();
    }

    /// <summary>Writes all of <paramref name="bytes"/> now (the socket is blocking): through TLS when the fleet uses it,
    /// else straight to the socket. Callers hold <c>_sendLock</c>.</summary>
    private void Write(Socket socket, ReadOnlySpan<byte> bytes)
    {
        if (_tls is { } tls)
        {
            tls.Write(bytes);
            return;
        }

        var sent = 0;
        while (sent < bytes.Length)
        {
            var n = socket.Send(bytes[sent..], SocketFlags.None);
            if (n <= 0)
            {
                return;
            }

            sent += n;
        }
    }
}
