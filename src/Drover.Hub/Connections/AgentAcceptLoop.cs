using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Connections;

/// <summary>The agent port: one listening socket (backlog <see cref="HubOptions.ListenBacklog"/>) and two accept
/// loops that hand each accepted socket, as an <see cref="AgentConnection"/>, to <see cref="AgentSessions"/>.</summary>
internal sealed class AgentAcceptLoop : IDisposable
{
    private readonly AgentSessions _sessions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Socket? _listener;

    public AgentAcceptLoop(AgentSessions sessions, TimeProvider time, ILogger<AgentAcceptLoop> logger)
    {
        _sessions = sessions;
        _time = time;
        _logger = logger;
    }

    /// <summary>The bound endpoint (the real port when port 0 was asked for), or null before <see cref="Listen"/>.</summary>
    public IPEndPoint? EndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    public void Listen(IPEndPoint endPoint, int backlog)
    {
        _listener = AgentListener.Bind(endPoint, backlog);
    }

    /// <summary>Stops accepting: the accept loops end.</summary>
    public void Dispose() => _listener?.Dispose();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of descriptors: the pending connections wait in the backlog; do not spin.
                Log.AcceptFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (SocketException)
            {
                // The peer reset before we accepted it.
                continue;
            }

            socket.NoDelay = true;
            socket.Blocking = false;
            var connection = new AgentConnection(socket, _sessions, _time.GetUtcNow().UtcTicks);
            _sessions.Accepted(connection);
            _ = connection.RunAsync();
        }
    }
}
