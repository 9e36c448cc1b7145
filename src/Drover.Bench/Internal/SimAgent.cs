using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Drover.Agent.Internal;
using Drover.Protocol;

namespace Drover.Bench.Internal;

/// <summary>One simulated agent, as lean as the bench can make it so that one process holds 19,000:
/// one socket, one 512-byte receive buffer, a pre-encoded ~120-byte status frame whose sequence number
/// is patched in place, and at most two pending awaits (receive, and the wait for the next slot).
/// Behaves like the real agent where the figures depend on it: first report right after welcome,
/// reports on the hub's slot (or the top of the interval when naive), reconnect with full-jitter
/// backoff, retry-after honoured. In job mode (the fleet's job slots &gt; 0) it also runs jobs, in
/// <c>SimAgent.Jobs.cs</c>; only then does it carry a larger receive buffer and a send buffer.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The TLS stream lives as long as one connection, like the socket: Disconnect and Close dispose both.")]
internal sealed partial class SimAgent
{
    private static readonly TimeSpan BackoffBase = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan BackoffCap = TimeSpan.FromSeconds(30);

    private readonly SimFleet _fleet;
    private const int StatusReceiveBuffer = 512;

    private readonly byte[] _statusFrame;
    private readonly Lock _sendLock = new();
    private byte[] _rx;
    private Socket? _socket;
    private SslStream? _tls; // with the fleet's Trust: every byte goes through it
    private int _rxStart;
    private int _rxFilled;
    private long _sentAt;
    private long _clockOffsetMs;
    private int _scheduleVersion;

    public SimAgent(SimFleet fleet, int index)
    {
        _fleet = fleet;
        Index = index;
        Id = $"{fleet.IdPrefix}-{index:D6}";
        _rx = fleet.JobSlots > 0 ? new byte[JobReceiveBuffer] : new byte[StatusReceiveBuffer];
        _statusFrame = FrameCodec.ToArray(new Status(0, AgentState.Idle, ProtocolConstants.NoProgress,
        [
            new("load1", FieldValue.From(0.42)),
            new("load5", FieldValue.From(0.37)),
            new("mem_total_bytes", FieldValue.From(8_589_934_592L)),
            new("mem_available_bytes", FieldValue.From(4_294_967_296L)),
            new("note", FieldValue.From($"sim {index}")),
        ]));
    }

    public int Index { get; }

    public string Id { get; }

    public bool Connected { get; private set; }

    public int Sessions { get; private set; }

    public long Sent;

    public long Acked;

    public long InFlightAtKill;

    public ulong Sequence;

    public ulong LastAckedSequence;

    public uint IntervalMs { get; private set; }

    public uint SlotOffsetMs { get; private set; }

    public bool GaveUp { get; private set; }

    /// <summary>Stopwatch timestamp of the latest welcome.</summary>
    public long ConnectedAt { get; private set; }

    /// <summary>Connects, reports as the fleet's mode says, and reconnects until the fleet stops, with
    /// the real agent's backoff (<see cref="ReconnectBackoff"/>: full jitter below a capped ceiling,
    /// reset by a welcome, retry-after honoured).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var backoff = new ReconnectBackoff(BackoffBase, BackoffCap);
        while (!stop.IsCancellationRequested)
        {
            var retryAfter = TimeSpan.Zero;
            var sessionsBefore = Sessions;
            try
            {
                retryAfter = await SessionAsync(stop).ConfigureAwait(false);
            }
            catch (ProtocolException ex)
            {
                // A frame the protocol does not allow here is the hub's bug, not load: the run fails and says so (the
                // agent goes on reconnecting, as the real one does).
                _fleet.Fail($"{Id}: the hub broke the protocol ({ex.Code}): {ex.Message}");
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
            }
            finally
            {
                Disconnect();
            }

            if (stop.IsCancellationRequested || GaveUp)
            {
                return;
            }

            if (Sessions > sessionsBefore)
            {
                backoff.Reset();
            }

            var delay = backoff.NextAtLeast(retryAfter, Random.Shared);
            try
            {
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One connection. Returns the hub's retry-after when it refused us.</summary>
    private async Task<TimeSpan> SessionAsync(CancellationToken stop)
    {
        var socket = await ConnectAsync(stop).ConfigureAwait(false);
        var hello = new Hello(ProtocolConstants.MinVersion, ProtocolConstants.MaxVersion, Id, _fleet.Token, "bench", SimFleet.Labels, [], (ushort)_fleet.JobSlots);
        lock (_sendLock)
        {
            Write(socket, FrameCodec.ToArray(hello));
        }

        var first = await ReceiveFrameAsync(stop).ConfigureAwait(false);
        if (first is Refuse refuse)
        {
            if (refuse.Code is ErrorCode.AuthenticationFailed or ErrorCode.InvalidAgentId or ErrorCode.UnsupportedVersion)
            {
                GaveUp = true;
                _fleet.Fail($"{Id} refused for good: {refuse.Code} {refuse.Reason}");
            }

            return TimeSpan.FromMilliseconds(refuse.RetryAfterMs);
        }

        if (first is null)
        {
            return TimeSpan.Zero; // closed before answering (a hub killed or restarting, a connection over its caps): reconnect
        }

        if (first is not Welcome welcome)
        {
            throw new ProtocolException(ErrorCode.UnexpectedMessage, $"expected welcome, got {first.Type}");
        }

        _clockOffsetMs = welcome.HubTimeUnixMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        IntervalMs = welcome.IntervalMs;
        SlotOffsetMs = welcome.SlotOffsetMs;
        Sessions++;
        ConnectedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Connected = true;
        _fleet.OnConnected(this);
        ReannounceJobs();

        // The first report goes right after the welcome, as the real agent does. The reporter lives
        // exactly as long as the session: when the connection ends it is cancelled, not left asleep
        // until its next slot.
        SendStatus();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var reporter = _fleet.ClosedLoop ? Task.CompletedTask : ReportOnScheduleAsync(session.Token);
        try
        {
            while (await ReceiveFrameAsync(stop).ConfigureAwait(false) is { } message)
            {
                switch (message)
                {
                    case Reschedule reschedule:
                        IntervalMs = reschedule.IntervalMs;
                        SlotOffsetMs = reschedule.SlotOffsetMs;
                        Interlocked.Increment(ref _scheduleVersion);
                        break;
                    case Ping ping:
                        lock (_sendLock)
                        {
                            Write(socket, FrameCodec.ToArray(new Pong(ping.Value)));
                        }

                        break;
                    case Backoff backoff:
                        return TimeSpan.FromMilliseconds(backoff.RetryAfterMs);
                    case Bye or Redirect:
                        return TimeSpan.Zero;
                }
            }
        }
        finally
        {
            Connected = false;
            _fleet.OnDisconnected(this);
            await session.CancelAsync().ConfigureAwait(false);
            await reporter.ConfigureAwait(false);
        }

        return TimeSpan.Zero;
    }

    private async Task ReportOnScheduleAsync(CancellationToken stop)
    {
        // The next slot strictly after the previous one: a timer that fires a little early must not
        // make the same slot come round twice.
        var previous = long.MinValue;
        try
        {
            while (Connected && !stop.IsCancellationRequested)
            {
                var interval = (long)IntervalMs;
                var slot = _fleet.Naive ? 0 : (long)SlotOffsetMs;
                var hubNow = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + _clockOffsetMs;
                var from = Math.Max(hubNow, previous == long.MinValue ? hubNow : previous + 1);
                var next = from - ((((from - slot) % interval) + interval) % interval) + interval;
                previous = next;
                var version = Volatile.Read(ref _scheduleVersion);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, next - hubNow)), stop).ConfigureAwait(false);
                if (version != Volatile.Read(ref _scheduleVersion))
                {
                    // Rescheduled while asleep: the next report is at the next slot of the new schedule,
                    // as the real agent does, not at the old slot.
                    previous = long.MinValue;
                    continue;
                }

                if (Connected && _fleet.Reporting)
                {
                    SendStatus();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Sends the next report (sequence patched into the pre-encoded frame).</summary>
    public void SendStatus()
    {
        var socket = _socket;
        if (socket is null || !Connected)
        {
            return;
        }

        lock (_sendLock)
        {
            Sequence++;
            BinaryPrimitives.WriteUInt64BigEndian(_statusFrame.AsSpan(ProtocolConstants.HeaderSize), Sequence);
            Volatile.Write(ref _sentAt, Stopwatch.GetTimestamp());
            try
            {
                Write(socket, _statusFrame);
                Interlocked.Increment(ref Sent);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
            {
                Sequence--;
            }
        }
    }

    /// <summary>Reads the next frame; acks (and, in job mode, job frames) are handled here without a
    /// round trip through the caller. Null at end of stream. Frames are parsed from <c>_rxStart</c>; the
    /// unparsed rest moves to the front of the buffer once per receive, not once per frame.</summary>
    private async Task<Message?> ReceiveFrameAsync(CancellationToken stop)
    {
        var maxFrame = _fleet.JobSlots > 0 ? ProtocolConstants.MaxJobFrameSize : ProtocolConstants.DefaultMaxFrameSize;
        while (true)
        {
            while (FrameCodec.TryReadFrame(_rx.AsSpan(_rxStart, _rxFilled - _rxStart), maxFrame, out var type, out var payload, out var consumed))
            {
                Message? message = null;
                if (type == MessageType.StatusAck)
                {
                    OnAck(BinaryPrimitives.ReadUInt64BigEndian(payload));
                }
                else if (!TryHandleJobFrame(type, payload))
                {
                    message = FrameCodec.Decode(type, payload);
                }

                _rxStart += consumed;
                if (message is not null)
                {
                    FlushJobReplies();
                    return message;
                }
            }

            FlushJobReplies();
            _rx.AsSpan(_rxStart, _rxFilled - _rxStart).CopyTo(_rx);
            _rxFilled -= _rxStart;
            _rxStart = 0;
            MakeRoomForFrame(maxFrame);
            var read = _tls is { } tls
                ? await tls.ReadAsync(_rx.AsMemory(_rxFilled), stop).ConfigureAwait(false)
                : await _socket!.ReceiveAsync(_rx.AsMemory(_rxFilled), SocketFlags.None, stop).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            _rxFilled += read;
        }
    }

    /// <summary>A frame that does not fit the receive buffer: in job mode the buffer grows to hold it
    /// (the header was checked against the cap already); the status-only agent never receives one.</summary>
    private void MakeRoomForFrame(int maxFrame)
    {
        if (_rxFilled < ProtocolConstants.HeaderSize || !FrameCodec.TryReadHeader(_rx.AsSpan(0, _rxFilled), maxFrame, out var type, out var length))
        {
            return;
        }

        var needed = ProtocolConstants.HeaderSize + length;
        if (needed <= _rx.Length)
        {
            return;
        }

        if (_fleet.JobSlots == 0)
        {
            throw new ProtocolException(ErrorCode.FrameTooLarge, $"a {type} frame of {needed} bytes does not fit the simulated agent's {_rx.Length}-byte buffer");
        }

        var grown = new byte[Math.Max(needed, _rx.Length * 2)];
        _rx.AsSpan(0, _rxFilled).CopyTo(grown);
        _rx = grown;
    }

    private void OnAck(ulong sequence)
    {
        Interlocked.Increment(ref Acked);
        LastAckedSequence = Math.Max(LastAckedSequence, sequence);
        if (sequence == Volatile.Read(ref Sequence))
        {
            _fleet.Latency.Record(Stopwatch.GetElapsedTime(Volatile.Read(ref _sentAt)));
        }

        if (_fleet.ClosedLoop && _fleet.Reporting)
        {
            SendStatus();
        }
    }
}
