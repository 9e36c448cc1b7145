using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.TestUtilities;

/// <summary>A flood of connections that never say anything (a port scan, a pre-auth denial of service), each watched
/// until the hub closes it: when (after the connect), and with which bye, if any. Connects at most 1,000 at a time; a
/// connection the hub resets while it connects counts as closed at once.</summary>
public sealed class SilentConnections : IAsyncDisposable
{
    private readonly Socket[] _sockets;
    private readonly long[] _connectingAt;
    private readonly long[] _closedAt;
    private readonly ErrorCode?[] _byes;
    private readonly Task[] _watchers;

    private SilentConnections(int count)
    {
        _sockets = new Socket[count];
        _connectingAt = new long[count];
        _closedAt = new long[count];
        _byes = new ErrorCode?[count];
        _watchers = new Task[count];
    }

    public int Count => _sockets.Length;

    /// <summary>Connections the hub has closed (bye then close, or a reset) so far.</summary>
    public int Closed => _closedAt.Count(t => t != 0);

    /// <summary>How long after its connect began each closed connection was closed (the hub accepted it later than that:
    /// its handshake timeout runs from its accept).</summary>
    public IReadOnlyList<TimeSpan> ClosedAfter => [.. Enumerable.Range(0, Count)
        .Where(i => Volatile.Read(ref _closedAt[i]) != 0)
        .Select(i => Stopwatch.GetElapsedTime(_connectingAt[i], _closedAt[i]))];

    /// <summary>The bye each closed connection got (null: closed or reset without one).</summary>
    public IReadOnlyList<ErrorCode?> Byes => _byes;

    /// <summary>Opens <paramref name="count"/> silent connections to <paramref name="hub"/>.</summary>
    public static async Task<SilentConnections> OpenAsync(IPEndPoint hub, int count, CancellationToken cancellationToken)
    {
        var flood = new SilentConnections(count);
        using var inFlight = new SemaphoreSlim(1_000);
        var connects = new Task[count];
        for (var i = 0; i < count; i++)
        {
            await inFlight.WaitAsync(cancellationToken);
            connects[i] = flood.ConnectAsync(i, hub, inFlight, cancellationToken);
        }

        await Task.WhenAll(connects);
        return flood;
    }

    /// <summary>Waits until every connection was closed by the hub, or <paramref name="timeout"/> passes.</summary>
    public async Task<bool> WaitAllClosedAsync(TimeSpan timeout)
    {
        var all = Task.WhenAll(_watchers);
        return await Task.WhenAny(all, Task.Delay(timeout)) == all;
    }

    /// <summary>Ends the flood: closes every connection still open.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            socket?.Dispose();
        }

        await Task.WhenAll(_watchers.Where(w => w is not null)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private async Task ConnectAsync(int index, IPEndPoint hub, SemaphoreSlim inFlight, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets[index] = socket;
        _connectingAt[index] = Stopwatch.GetTimestamp();
        try
        {
            await socket.ConnectAsync(hub, cancellationToken);
            _watchers[index] = WatchAsync(index, socket);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Reset by the hub as the connect completed.
            _closedAt[index] = Stopwatch.GetTimestamp();
            _watchers[index] = Task.CompletedTask;
        }
        finally
        {
            inFlight.Release();
        }
    }

    /// <summary>Reads until the hub closes the connection, keeping the first bytes (a bye).</summary>
    private async Task WatchAsync(int index, Socket socket)
    {
        var buffer = new byte[256];
        var filled = 0;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(filled == buffer.Length ? 0 : filled), SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                filled = Math.Min(buffer.Length, filled + read);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            if (ex is ObjectDisposedException || (ex is SocketException se && se.SocketErrorCode == SocketError.OperationAborted))
            {
                // Closed by this side (the flood ended): not closed by the hub.
                return;
            }
        }

        Volatile.Write(ref _closedAt[index], Stopwatch.GetTimestamp());
        if (FrameCodec.TryReadFrame(buffer.AsSpan(0, filled), ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload, out _)
            && type == MessageType.Bye
            && FrameCodec.Decode(type, payload) is Bye bye)
        {
            _byes[index] = bye.Code;
        }
    }
}
