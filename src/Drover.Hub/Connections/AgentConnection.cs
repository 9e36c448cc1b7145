using System.Net.Sockets;
using Drover.Hub.Fleet;
using Drover.Protocol;

namespace Drover.Hub.Connections;

/// <summary>One agent connection: the lean socket loop. While idle it holds no buffer and no timer:
/// a zero-byte receive waits for data, and the liveness sweep (not a per-connection timer) decides
/// when it is too quiet. Partial files: Read (the read loop and dispatch), Write (the one writer).</summary>
internal sealed partial class AgentConnection : IDisposable
{
    private readonly AgentTransport _transport; // also the write lock
    private readonly AgentSessions _sessions;
    private int _closed;
    private int _jobSlots;
    private int _welcomed;

    public AgentConnection(Socket socket, AgentSessions sessions, long acceptedTicks)
    {
        _transport = new AgentTransport(socket);
        _sessions = sessions;
        AcceptedTicks = acceptedTicks;
    }

    public long AcceptedTicks { get; }

    /// <summary>Non-zero when the connection came over its source's rate (<see cref="SourceLimits"/>): its hello is refused with RateLimited and a retry-after pointing at this moment (UTC
    /// ticks), and it gets a shorter handshake timeout. Set by the accept loop before the read loop starts.</summary>
    public long RefuseUntilTicks { get; init; }

    /// <summary>This session's job results waiting for their commit (Interlocked).</summary>
    public int PendingResults;

    /// <summary>The largest frame payload read from this agent: the hello cap before the hello; after it,
    /// <see cref="HubOptions.JobAgentMaxFrameSize"/> for an agent with job slots (its results carry out files),
    /// else <see cref="HubOptions.MaxFrameSize"/>. The welcome tells the agent the same number.</summary>
    public int MaxReadFrameSize => Entry is null ? ProtocolConstants.MaxHelloFrameSize
        : _jobSlots > 0 ? _sessions.Options.JobAgentMaxFrameSize : _sessions.Options.MaxFrameSize;

    /// <summary>Set when the close began (bye sent, send side shut); the sweep ends lingering closes.</summary>
    public long ClosingSinceTicks { get; private set; }

    /// <summary>The agent this connection speaks for, once the hello was accepted.</summary>
    public AgentEntry? Entry { get; private set; }

    public ulong Epoch { get; private set; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The agent's IP:port (see <see cref="RemoteAddressText"/>).</summary>
    public string RemoteAddress => _transport.RemoteAddress;

    /// <summary>The agent's IP address, for the per-source limits.</summary>
    public System.Net.IPAddress RemoteIPAddress => _transport.RemoteIPAddress;

    /// <summary>Ends the session: sends bye with <paramref name="code"/> when it is given, shuts the send
    /// side so the bye reaches the agent, and detaches from the registry (epoch-ordered). The read loop
    /// then drains until the agent closes, or the sweep disposes the socket after a short linger.
    /// Safe to call from any thread, any number of times: the first call decides the reason.</summary>
    public void Close(DisconnectReason reason, ErrorCode? code, string detail)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        ClosingSinceTicks = _sessions.Time.GetUtcNow().UtcTicks;
        if (code is { } byeCode)
        {
            SendFinal(new Bye(byeCode, detail));
        }

        ShutdownSend(dropBacklog: reason == DisconnectReason.SlowConsumer);
        _sessions.OnConnectionClosed(this, reason, detail);
    }

    /// <summary>Closes after a refused hello: the refusal is the last frame.</summary>
    public void Refuse(ErrorCode code, TimeSpan retryAfter, string detail)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        ClosingSinceTicks = _sessions.Time.GetUtcNow().UtcTicks;
        _sessions.Metrics.HandshakeRefused(code);
        SendFinal(new Refuse(code, (uint)Math.Clamp(retryAfter.TotalMilliseconds, 0, uint.MaxValue), detail));
        ShutdownSend(dropBacklog: false);
        _sessions.OnConnectionClosed(this, DisconnectReason.Refused, detail);
    }

    /// <summary>Releases the socket (the read loop ends with it).</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _closed, 1);
        _transport.Dispose();
    }

    /// <summary>The welcome went out (a hello's one answer): frames the hub starts (reschedule, job_cancel) wait for it.</summary>
    public bool IsWelcomed => Volatile.Read(ref _welcomed) != 0;

    /// <summary>Sends the welcome, then marks the session welcomed with a full fence (see LivenessSweep.BroadcastSchedule).</summary>
    public void SendWelcome(Welcome welcome)
    {
        Send(welcome);
        Interlocked.Exchange(ref _welcomed, 1);
    }

    internal void Established(AgentEntry entry, ulong epoch, int jobSlots)
    {
        _jobSlots = jobSlots;
        Entry = entry;
        Epoch = epoch;
    }
}
