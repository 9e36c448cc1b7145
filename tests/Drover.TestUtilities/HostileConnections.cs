using System.Net;
using System.Net.Sockets;

namespace Drover.TestUtilities;

/// <summary>Plays <see cref="HostileScript"/>s at a hub over many connections at once: each connection sends its
/// script, reads (and drops) whatever the hub answers, and ends when the hub closes it, when its script ends in a
/// truncation (the sender closes at once), or after <see cref="LingerAfterScript"/> with the connection still open
/// (a bit flip that left a valid frame, or one whose flipped length waits for bytes that never come).</summary>
public sealed class HostileConnections
{
    /// <summary>How long a connection stays open after its script when the hub has not closed it.</summary>
    public static readonly TimeSpan LingerAfterScript = TimeSpan.FromMilliseconds(500);

    private long _frames;
    private long _bytes;
    private long _connections;
    private long _closedByHub;
    private long _closedHere;
    private long _connectFailures;
    private long _sendFailures;

    /// <summary>Mutated frames written to a socket in full.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Connections opened.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Connections the hub closed (end of stream or reset) before this side did.</summary>
    public long ClosedByHub => Interlocked.Read(ref _closedByHub);

    /// <summary>Connections this side closed: truncations, and those the hub kept open past the linger.</summary>
    public long ClosedHere => Interlocked.Read(ref _closedHere);

    /// <summary>Connects that failed (the hub reset or refused the connection).</summary>
    public long ConnectFailures => Interlocked.Read(ref _connectFailures);

    /// <summary>Scripts cut short because the hub had already closed the connection.</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    public override string ToString() =>
        $"{Frames:N0} mutated frames ({Bytes:N0} bytes) over {Connections:N0} connections: {ClosedByHub:N0} closed by the hub, "
        + $"{ClosedHere:N0} closed here, {ConnectFailures} failed connects, {SendFailures} scripts cut short";

    /// <summary>Plays every script, <paramref name="concurrency"/> connections at a time; returns when all have ended.</summary>
    public async Task RunAsync(IPEndPoint hub, IReadOnlyList<HostileScript> scripts, int concurrency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scripts);
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(
            async () =>
            {
                var buffer = new byte[4096];
                for (var i = Interlocked.Increment(ref next); i < scripts.Count && !cancellationToken.IsCancellationRequested; i = Interlocked.Increment(ref next))
                {
                    await PlayAsync(hub, scripts[i], buffer, cancellationToken).ConfigureAwait(false);
                }
            },
            cancellationToken));
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private async Task PlayAsync(IPEndPoint hub, HostileScript script, byte[] buffer, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(hub, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            Interlocked.Increment(ref _connectFailures);
            return;
        }

        Interlocked.Increment(ref _connections);
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = DrainAsync(socket, buffer, linger.Token);
        try
        {
            await socket.SendAsync(script.Bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _frames, script.Mutations.Count);
            Interlocked.Add(ref _bytes, script.Bytes.Length);
        }
        catch (SocketException)
        {
            Interlocked.Increment(ref _sendFailures);
        }

        if (script.CloseAtOnce)
        {
            await linger.CancelAsync().ConfigureAwait(false);
        }
        else
        {
            linger.CancelAfter(LingerAfterScript);
        }

        if (await reader.ConfigureAwait(false))
        {
            Interlocked.Increment(ref _closedByHub);
        }
        else
        {
            Interlocked.Increment(ref _closedHere);
        }
    }

    /// <summary>Reads and drops the hub's frames; true when the hub ended the stream, false when <paramref name="stop"/> came first.</summary>
    private static async Task<bool> DrainAsync(Socket socket, byte[] buffer, CancellationToken stop)
    {
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, stop).ConfigureAwait(false) > 0)
            {
            }

            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
