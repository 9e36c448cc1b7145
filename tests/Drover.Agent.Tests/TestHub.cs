using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.Agent.Tests;

/// <summary>A minimal hub for agent tests: a TcpListener on 127.0.0.1:0 speaking the protocol with
/// FrameCodec. It answers hello with <see cref="Answer"/> (a welcome by default), acknowledges status
/// reports, records every frame it receives with the (fake) time it arrived, and lets the test send any
/// message or close connections.</summary>
internal sealed class TestHub : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly List<HubConnection> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private ulong _epoch;

    public TestHub(TimeProvider time, string hubId = "test-hub")
    {
        Time = time;
        HubId = hubId;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Answer = (_, _) => CreateWelcome();
        _acceptLoop = AcceptLoopAsync();
    }

    public TimeProvider Time { get; }

    public string HubId { get; }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    public uint IntervalMs { get; set; } = 1000;

    public uint SlotOffsetMs { get; set; }

    /// <summary>Hub clock minus the agent's clock, in ms, as sent in the welcome.</summary>
    public long ClockSkewMs { get; set; }

    public ushort MaxStatusFields { get; set; } = ProtocolConstants.DefaultMaxStatusFields;

    public bool AutoAck { get; set; } = true;

    /// <summary>Whether each job_result is answered with job_result_ack at once. Default: false (tests ack by hand).</summary>
    public bool AutoAckResults { get; set; }

    /// <summary>welcome.max_frame_size, and the largest frame this hub reads.</summary>
    public uint MaxFrameSize { get; set; } = ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>The answer to the hello on the n-th connection (0-based). A refuse is followed by a close.
    /// Null sends nothing.</summary>
    public Func<Hello, int, Message?> Answer { get; set; }

    public IReadOnlyList<HubConnection> Connections
    {
        get
        {
            lock (_connections)
            {
                return _connections.ToArray();
            }
        }
    }

    public HubConnection? Latest => Connections is { Count: > 0 } all ? all[^1] : null;

    public int ConnectionCount => Connections.Count;

    public Welcome CreateWelcome() => new(
        Version: 1,
        SessionEpoch: Interlocked.Increment(ref _epoch),
        IntervalMs: IntervalMs,
        SlotOffsetMs: SlotOffsetMs,
        HubTimeUnixMs: Time.GetUtcNow().ToUnixTimeMilliseconds() + ClockSkewMs,
        MaxFrameSize: MaxFrameSize,
        MaxStatusFields: MaxStatusFields,
        HubId: HubId);

    /// <summary>A job frame for <paramref name="content"/> with its correct SHA-256 (unless <paramref name="sha256"/> is given).</summary>
    public Job CreateJob(string jobId, byte[] content, uint attempt = 1, string fileName = "input.txt", uint timeoutMs = 30_000,
        string args = "", byte[]? sha256 = null) => new(
        jobId,
        attempt,
        Time.GetUtcNow().ToUnixTimeMilliseconds() + timeoutMs,
        timeoutMs,
        fileName,
        sha256 ?? System.Security.Cryptography.SHA256.HashData(content),
        args,
        content);

    /// <summary>The hub vanishes: stops listening (later connects are refused) and drops every connection.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var connection in Connections)
        {
            connection.Abort();
        }

        try
        {
            await _acceptLoop;
        }
        catch (Exception)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            int index;
            var connection = new HubConnection(this, socket);
            lock (_connections)
            {
                index = _connections.Count;
                _connections.Add(connection);
            }

            connection.Start(index);
        }
    }

    /// <summary>One agent connection as the test hub sees it.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The stream owns the socket, which the close methods close; the SemaphoreSlim never creates its wait handle.")]
    internal sealed class HubConnection
    {
        private readonly TestHub _hub;
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly List<(Message Message, DateTimeOffset At)> _received = [];
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private volatile bool _closed;

        public HubConnection(TestHub hub, Socket socket)
        {
            _hub = hub;
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        public bool Closed => _closed;

        public IReadOnlyList<(Message Message, DateTimeOffset At)> Received
        {
            get
            {
                lock (_received)
                {
                    return _received.ToArray();
                }
            }
        }

        public Hello? Hello => Received.Select(r => r.Message).OfType<Hello>().FirstOrDefault();

        public IReadOnlyList<Status> Statuses => Received.Select(r => r.Message).OfType<Status>().ToArray();

        public IReadOnlyList<(Status Status, DateTimeOffset At)> StatusesWithTime =>
            Received.Where(r => r.Message is Status).Select(r => ((Status)r.Message, r.At)).ToArray();

        public IReadOnlyList<T> ReceivedOf<T>() where T : Message => Received.Select(r => r.Message).OfType<T>().ToArray();

        public IReadOnlyList<JobResult> Results => ReceivedOf<JobResult>();

        /// <summary>The job messages the agent sent (accepted, busy, result), in order.</summary>
        public IReadOnlyList<Message> JobMessages =>
            Received.Select(r => r.Message).Where(m => m is JobAccepted or JobBusy or JobResult).ToArray();

        public JobResult? ResultOf(string jobId, uint attempt = 1) =>
            Results.LastOrDefault(r => r.JobId == jobId && r.Attempt == attempt);

        public void Start(int index) => _ = ReadLoopAsync(index);

        public async Task SendAsync(Message message)
        {
            var bytes = FrameCodec.ToArray(message);
            await _writeLock.WaitAsync();
            try
            {
                await _stream.WriteAsync(bytes);
            }
            finally
            {
                _writeLock.Release();
            }
        }

        /// <summary>Sends raw bytes (malformed input).</summary>
        public async Task SendRawAsync(byte[] bytes)
        {
            await _writeLock.WaitAsync();
            try
            {
                await _stream.WriteAsync(bytes);
            }
            finally
            {
                _writeLock.Release();
            }
        }

        /// <summary>Sends <paramref name="message"/> and closes, as a hub does after refuse, bye, backoff or redirect.</summary>
        public async Task SendAndCloseAsync(Message message)
        {
            await SendAsync(message);
            _socket.Shutdown(SocketShutdown.Send);
        }

        public void Abort()
        {
            _closed = true;
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception)
            {
                // Already closed.
            }

            _socket.Close();
        }

        private async Task ReadLoopAsync(int index)
        {
            var reader = PipeReader.Create(_stream);
            try
            {
                while (true)
                {
                    var result = await reader.ReadAsync();
                    var buffer = result.Buffer;
                    while (FrameCodec.TryReadFrame(ref buffer, (int)_hub.MaxFrameSize, out var type, out var payload))
                    {
                        var message = FrameCodec.Decode(type, payload);
                        lock (_received)
                        {
                            _received.Add((message, _hub.Time.GetUtcNow()));
                        }

                        await OnMessageAsync(message, index);
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (Exception)
            {
                // Reset or aborted by the test.
            }
            finally
            {
                Abort();
            }
        }

        private async Task OnMessageAsync(Message message, int index)
        {
            switch (message)
            {
                case Hello hello when _hub.Answer(hello, index) is { } answer:
                    if (answer is Refuse)
                    {
                        await SendAndCloseAsync(answer);
                    }
                    else
                    {
                        await SendAsync(answer);
                    }

                    break;
                case Status status when _hub.AutoAck:
                    await SendAsync(new StatusAck(status.Sequence));
                    break;
                case JobResult result when _hub.AutoAckResults:
                    await SendAsync(new JobResultAck(result.JobId, result.Attempt));
                    break;
            }
        }
    }
}
