using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.TestUtilities;

/// <summary>Many honest agents in one test process, as lean as the bench's simulated agents: one socket, a 512-byte
/// receive buffer and a pre-encoded status frame each, one receive loop each, and one shared reporter loop that sends
/// every agent's report once per interval (agent i at i/count of the interval). Each agent records when its reports
/// were acknowledged, so a test can say whether every one of them stayed on time.</summary>
public sealed class ReportingFleet : IAsyncDisposable
{
    private readonly Agent[] _agents;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private long _maxSendGapTicks;

    private ReportingFleet(Agent[] agents) => _agents = agents;

    public int Count => _agents.Length;

    /// <summary>Agents whose session ended (a bye, a reset, a close) since they connected.</summary>
    public int Disconnected => _agents.Count(a => a.Ended);

    /// <summary>Acknowledged reports, all agents together.</summary>
    public long Acked => _agents.Sum(a => Interlocked.Read(ref a.Acked));

    /// <summary>The longest time any agent went without an acknowledgement since <see cref="StartReporting"/>.</summary>
    public TimeSpan MaxAckGap => TimeSpan.FromTicks(_agents.Max(a => a.MaxAckGapTicks(Stopwatch.GetTimestamp())) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);

    /// <summary>The longest time the reporter loop took to come round to an agent again (its own lateness).</summary>
    public TimeSpan MaxSendGap => TimeSpan.FromTicks(Interlocked.Read(ref _maxSendGapTicks) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);

    /// <summary>Connects <paramref name="count"/> agents (ids <paramref name="prefix"/>-000000, ...), 100 at a time, each
    /// welcomed before this returns.</summary>
    public static async Task<ReportingFleet> ConnectAsync(IPEndPoint hub, int count, string token, string prefix, CancellationToken cancellationToken)
    {
        var agents = Enumerable.Range(0, count).Select(i => new Agent($"{prefix}-{i:D6}", token)).ToArray();
        var fleet = new ReportingFleet(agents);
        try
        {
            foreach (var batch in agents.Chunk(100))
            {
                await Task.WhenAll(batch.Select(a => a.ConnectAsync(hub, cancellationToken)));
            }

            foreach (var agent in agents)
            {
                fleet._loops.Add(agent.ReadAsync(fleet._stop.Token));
            }
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }

        return fleet;
    }

    /// <summary>Starts the reporter loop: every agent sends one report per <paramref name="interval"/>.</summary>
    public void StartReporting(TimeSpan interval)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var agent in _agents)
        {
            agent.ResetAckClock(now);
        }

        _loops.Add(Task.Run(() => ReportAsync(interval, _stop.Token)));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var agent in _agents)
        {
            agent.Dispose();
        }

        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or TimeoutException)
        {
        }

        _stop.Dispose();
    }

    private async Task ReportAsync(TimeSpan interval, CancellationToken stop)
    {
        var slotTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency / _agents.Length);
        var start = Stopwatch.GetTimestamp();
        var previousRound = start;
        for (long round = 0; !stop.IsCancellationRequested; round++)
        {
            for (var i = 0; i < _agents.Length; i++)
            {
                var due = start + (long)(round * interval.TotalSeconds * Stopwatch.Frequency) + (i * slotTicks);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }

                _agents[i].SendStatus();
            }

            var now = Stopwatch.GetTimestamp();
            InterlockedMax(ref _maxSendGapTicks, now - previousRound);
            previousRound = now;
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var seen = Interlocked.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    private sealed class Agent : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private readonly string _id;
        private readonly string _token;
        private readonly byte[] _status = FrameCodec.ToArray(RawProtocolClient.MakeStatus(0));
        private readonly byte[] _rx = new byte[512];
        private int _filled;
        private ulong _sequence;
        private long _lastAck;
        private long _maxGap;

        public Agent(string id, string token)
        {
            _id = id;
            _token = token;
        }

        public long Acked;

        public bool Ended { get; private set; }

        public long MaxAckGapTicks(long now) => Math.Max(Interlocked.Read(ref _maxGap), now - Interlocked.Read(ref _lastAck));

        public void ResetAckClock(long now)
        {
            Interlocked.Exchange(ref _lastAck, now);
            Interlocked.Exchange(ref _maxGap, 0);
        }

        public async Task ConnectAsync(IPEndPoint hub, CancellationToken cancellationToken)
        {
            await _socket.ConnectAsync(hub, cancellationToken);
            await _socket.SendAsync(FrameCodec.ToArray(RawProtocolClient.MakeHello(_id, _token)), SocketFlags.None, cancellationToken);
            var answer = await ReceiveFrameAsync(cancellationToken);
            if (answer is not Welcome)
            {
                throw new InvalidOperationException($"{_id}: expected welcome, got {answer?.ToString() ?? "the end of the connection"}");
            }
        }

        public async Task ReadAsync(CancellationToken stop)
        {
            try
            {
                while (await ReceiveFrameAsync(stop) is { } message)
                {
                    if (message is Bye)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
            finally
            {
                Ended = !stop.IsCancellationRequested;
            }
        }

        public void SendStatus()
        {
            _sequence++;
            BinaryPrimitives.WriteUInt64BigEndian(_status.AsSpan(ProtocolConstants.HeaderSize), _sequence);
            try
            {
                _socket.Send(_status);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                Ended = true;
            }
        }

        public void Dispose() => _socket.Dispose();

        /// <summary>The next frame that is not an ack (acks are counted here); null at the end of the stream.</summary>
        private async Task<Message?> ReceiveFrameAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                while (FrameCodec.TryReadFrame(_rx.AsSpan(0, _filled), ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload, out var consumed))
                {
                    Message? message = null;
                    if (type == MessageType.StatusAck)
                    {
                        var now = Stopwatch.GetTimestamp();
                        InterlockedMax(ref _maxGap, now - Interlocked.Exchange(ref _lastAck, now));
                        Interlocked.Increment(ref Acked);
                    }
                    else
                    {
                        message = FrameCodec.Decode(type, payload);
                    }

                    _rx.AsSpan(consumed, _filled - consumed).CopyTo(_rx);
                    _filled -= consumed;
                    if (message is not null)
                    {
                        return message;
                    }
                }

                var read = await _socket.ReceiveAsync(_rx.AsMemory(_filled), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return null;
                }

                _filled += read;
            }
        }
    }
}
