using System.Net;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>The agent port: one listening socket (backlog <see cref="HubOptions.ListenBacklog"/>) and two accept
/// loops that hand each accepted socket, as an <see cref="AgentConnection"/>, to <see cref="AgentSessions"/>.
/// A socket beyond the connection caps (<see cref="ConnectionLimits"/>) is reset at once instead, so the listen
/// backlog keeps draining and nothing waits in it. A loop ends only when the hub stops: a failed accept (out of
/// descriptors, out of buffers, anything else) is logged once a minute, and the loop pauses
/// <see cref="PauseAfterError"/> on the hub's clock and goes on.</summary>
internal sealed class AgentAcceptLoop : IDisposable
{
    /// <summary>How long a loop waits after a failed accept: the failure (EMFILE, ENOBUFS) lasts until something is
    /// released, and retrying at once would spin; the pending connections wait in the listen backlog meanwhile.</summary>
    public static readonly TimeSpan PauseAfterError = TimeSpan.FromMilliseconds(100);

    private readonly AgentSessions _sessions;
    private readonly TimeProvider _time;
    private readonly Func<Socket, CancellationToken, ValueTask<Socket>> _accept;
    private Socket? _listener;

    /// <summary>A loop over <paramref name="accept"/> (default: <see cref="Socket.AcceptAsync(CancellationToken)"/> on the
    /// listener); tests pass one that fails.</summary>
    public AgentAcceptLoop(AgentSessions sessions, TimeProvider time, Func<Socket, CancellationToken, ValueTask<Socket>>? accept = null)
    {
        _sessions = sessions;
        _time = time;
        _accept = accept ?? ((listener, cancellationToken) => listener.AcceptAsync(cancellationToken));
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
        var limits = _sessions.Limits;
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _accept(_listener!, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                // The listener was closed under a pending accept: the hub is stopping.
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The peer reset before we accepted it.
                continue;
            }
            catch (Exception ex)
            {
                // EMFILE, ENFILE, ENOBUFS, ENOMEM, or a surprise: never the end of the loop, never a spin.
                limits.RecordAcceptError();
                _sessions.ConnectionLog.AcceptFailed(ex, PauseAfterError);
                if (!await PauseAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            long refuseUntil = 0;
            if (_sessions.Sources.Active && !CheckSource(socket, out refuseUntil))
            {
                Reset(socket);
                continue;
            }

            var refusal = limits.TryTake();
            if (refusal != ConnectionRefusal.None)
            {
                _sessions.ConnectionLog.Refused(refusal, socket);
                Reset(socket);
                continue;
            }

            Start(socket, refuseUntil);
        }
    }

    /// <summary>The per-source limits (<see cref="SourceLimits"/>), checked here at accept rather than at the hello: a source
    /// that keeps pushing is reset before it costs a TLS handshake, a read buffer or a pending slot, while a connection only
    /// a little over the rate goes on to its hello to be told, with a retry-after, when to come back. False: reset it.</summary>
    private bool CheckSource(Socket socket, out long refuseUntil)
    {
        var sources = _sessions.Sources;
        var address = RemoteAddressText.AddressOf(socket);
        var verdict = sources.OnAccept(address, out refuseUntil);
        if (verdict == SourceVerdict.Allowed)
        {
            return true;
        }

        var action = verdict == SourceVerdict.Reset
            ? "reset at accept: the source keeps connecting although its queue is a minute ahead, or it is blocked for wrong tokens"
            : $"hello refused with RateLimited, retry after {(refuseUntil - _time.GetUtcNow().UtcTicks) / TimeSpan.TicksPerMillisecond} ms";
        _sessions.ConnectionLog.OverSourceRate(SourceKey.From(address), sources.Rate, sources.Burst, action);
        return verdict != SourceVerdict.Reset;
    }

    /// <summary>Takes a socket that is within the caps into the handshake.</summary>
    private void Start(Socket socket, long refuseUntil)
    {
        AgentConnection connection;
        try
        {
            socket.NoDelay = true;
            socket.Blocking = false;
            connection = new AgentConnection(socket, _sessions, _time.GetUtcNow().UtcTicks) { RefuseUntilTicks = refuseUntil };
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset between accept and setup: it was never a connection.
            socket.Dispose();
            _sessions.Limits.HandshakeEnded();
            _sessions.Limits.Released();
            return;
        }

        _sessions.Accepted(connection);
        _ = connection.RunAsync();
    }

    /// <summary>Closes a refused socket the cheapest way: an abortive close (RST), so neither side keeps state for it
    /// (no FIN_WAIT or TIME_WAIT here, no half-open socket for a peer that never reads).</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.Close(0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            socket.Dispose();
        }
    }

    private async Task<bool> PauseAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(PauseAfterError, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
