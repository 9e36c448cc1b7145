namespace Drover.Hub.Connections;

/// <summary>Why a freshly accepted connection was reset at once instead of being taken into the handshake.</summary>
internal enum ConnectionRefusal
{
    /// <summary>Taken: within both caps.</summary>
    None,

    /// <summary>All connections (<see cref="ConnectionLimits.MaxConnections"/>) are in use.</summary>
    ConnectionCap,

    /// <summary>Too many connections have not finished the handshake (<see cref="ConnectionLimits.MaxPendingHandshakes"/>).</summary>
    PendingCap,
}

/// <summary>The agent port's two caps and their counters: every connection the hub holds (sessions, connections
/// without a hello, lingering closes; one descriptor each) and, within them, those that have not finished the
/// handshake. The accept loop asks <see cref="TryTake"/> for each accepted socket and resets it when refused;
/// the sessions report when a connection leaves the handshake and when its socket is released. Lock-free; the
/// status path never touches it.</summary>
internal sealed class ConnectionLimits
{
    private int _maxConnections = int.MaxValue;
    private int _maxPending = int.MaxValue;
    private int _open;
    private int _pending;
    private int _pendingPeak;
    private long _refusedOverConnections;
    private long _refusedOverPending;
    private long _handshakeTimeouts;
    private long _acceptErrors;
    private long _accepted;

    /// <summary>Most connections held at once (set at start from the options and the open-files limit).</summary>
    public int MaxConnections => Volatile.Read(ref _maxConnections);

    /// <summary>Most connections without a finished handshake, never more than <see cref="MaxConnections"/>.</summary>
    public int MaxPendingHandshakes => Volatile.Read(ref _maxPending);

    /// <summary>Connections whose socket the hub holds now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections that have not finished the handshake now.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>The most connections without a finished handshake held at once since start (to size the cap).</summary>
    public int PendingPeak => Volatile.Read(ref _pendingPeak);

    /// <summary>Connections reset at accept because all <see cref="MaxConnections"/> were in use.</summary>
    public long RefusedOverConnections => Interlocked.Read(ref _refusedOverConnections);

    /// <summary>Connections reset at accept because <see cref="MaxPendingHandshakes"/> had not finished the handshake.</summary>
    public long RefusedOverPending => Interlocked.Read(ref _refusedOverPending);

    /// <summary>Connections closed because they sent no hello within the handshake timeout.</summary>
    public long HandshakeTimeouts => Interlocked.Read(ref _handshakeTimeouts);

    /// <summary>Accept calls that failed (out of descriptors, out of buffers, ...).</summary>
    public long AcceptErrors => Interlocked.Read(ref _acceptErrors);

    /// <summary>Sockets accepted since start, taken or refused (the sweep watches it to see a connection burst settle).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>The connection cap for an open-files limit: <paramref name="configured"/> (0: none) but never more than
    /// <paramref name="fromLimit"/>, what the limit leaves after the reserve.</summary>
    public static int MaxConnectionsFor(int configured, ulong fromLimit)
    {
        var limit = (int)Math.Min(fromLimit, int.MaxValue);
        return configured > 0 ? Math.Min(configured, limit) : limit;
    }

    /// <summary>Sets both caps (at start); the pending cap is kept within the connection cap.</summary>
    public void SetCaps(int maxConnections, int maxPendingHandshakes)
    {
        Volatile.Write(ref _maxConnections, Math.Max(0, maxConnections));
        Volatile.Write(ref _maxPending, Math.Clamp(maxPendingHandshakes, 0, Math.Max(0, maxConnections)));
    }

    /// <summary>Takes a freshly accepted connection (counted as open and pending) or refuses it (counted by reason).</summary>
    public ConnectionRefusal TryTake()
    {
        Interlocked.Increment(ref _accepted);
        if (Interlocked.Increment(ref _open) > MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            Interlocked.Increment(ref _refusedOverConnections);
            return ConnectionRefusal.ConnectionCap;
        }

        var pending = Interlocked.Increment(ref _pending);
        if (pending > MaxPendingHandshakes)
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Decrement(ref _open);
            Interlocked.Increment(ref _refusedOverPending);
            return ConnectionRefusal.PendingCap;
        }

        var peak = Volatile.Read(ref _pendingPeak);
        while (pending > peak)
        {
            var seen = Interlocked.CompareExchange(ref _pendingPeak, pending, peak);
            if (seen == peak)
            {
                break;
            }

            peak = seen;
        }

        return ConnectionRefusal.None;
    }

    /// <summary>A taken connection left the handshake: welcomed, refused or closed. Once per connection.</summary>
    public void HandshakeEnded() => Interlocked.Decrement(ref _pending);

    /// <summary>A taken connection's socket was released. Once per connection.</summary>
    public void Released() => Interlocked.Decrement(ref _open);

    public void RecordHandshakeTimeout() => Interlocked.Increment(ref _handshakeTimeouts);

    public void RecordAcceptError() => Interlocked.Increment(ref _acceptErrors);
}
