using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Drover.Protocol;

namespace Drover.TestUtilities;

/// <summary>A bare protocol client for tests: sends any bytes (well-formed or not) and reads frames
/// with a real timeout, so tests can speak to the hub exactly as a buggy or hostile agent would.</summary>
public sealed class RawProtocolClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer = new byte[ProtocolConstants.DefaultMaxFrameSize + ProtocolConstants.HeaderSize];
    private int _filled;

    private RawProtocolClient(Socket socket) => _socket = socket;

    /// <summary>Connects; <paramref name="receiveBufferSize"/> (set before connecting) makes a slow reader's
    /// kernel buffer small, so what the hub sends piles up on the hub's side.</summary>
    public static Task<RawProtocolClient> ConnectAsync(IPEndPoint hub, int? receiveBufferSize = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(hub, receiveBufferSize, source: null, cancellationToken);

    /// <summary>Connects from <paramref name="source"/> (any 127.x.y.z works on Linux's loopback): a client at another
    /// address, for the hub's limits per source address.</summary>
    public static Task<RawProtocolClient> ConnectFromAsync(IPEndPoint hub, IPAddress source, CancellationToken cancellationToken = default) =>
        ConnectAsync(hub, receiveBufferSize: null, source, cancellationToken);

    private static async Task<RawProtocolClient> ConnectAsync(IPEndPoint hub, int? receiveBufferSize, IPAddress? source, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size;
        }

        if (source is not null)
        {
            socket.Bind(new IPEndPoint(source, 0));
        }

        var target = hub.Address.Equals(IPAddress.Any) ? new IPEndPoint(IPAddress.Loopback, hub.Port) : hub;
        await socket.ConnectAsync(target, cancellationToken);
        return new RawProtocolClient(socket);
    }

    /// <summary>The largest frame payload this client reads (default 64 KiB; job agents need
    /// <see cref="ProtocolConstants.MaxJobFrameSize"/>).</summary>
    public int MaxFrameSize { get; set; } = ProtocolConstants.DefaultMaxFrameSize;

    public static Hello MakeHello(string agentId, string token = "", IReadOnlyDictionary<string, string>? labels = null, ushort jobSlots = 0) => new(
        ProtocolConstants.MinVersion,
        ProtocolConstants.MaxVersion,
        agentId,
        token,
        "test-1.0",
        labels ?? new Dictionary<string, string>(),
        [],
        jobSlots);

    public static Status MakeStatus(ulong sequence, AgentState state = AgentState.Idle, params (string Key, FieldValue Value)[] fields) =>
        new(sequence, state, ProtocolConstants.NoProgress, fields.Select(f => new KeyValuePair<string, FieldValue>(f.Key, f.Value)).ToList());

    public Task SendAsync(Message message, CancellationToken cancellationToken = default) => SendRawAsync(FrameCodec.ToArray(message), cancellationToken);

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
    }

    /// <summary>Sends hello and returns the hub's answer (welcome or refuse).</summary>
    public async Task<Message> HandshakeAsync(Hello hello, TimeSpan? timeout = null)
    {
        await SendAsync(hello);
        return await ReceiveAsync(timeout);
    }

    /// <summary>Reads the next frame; throws <see cref="TimeoutException"/> if none arrives in time and
    /// <see cref="EndOfStreamException"/> if the hub closed the connection.</summary>
    public async Task<Message> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            if (FrameCodec.TryReadFrame(_buffer.AsSpan(0, _filled), MaxFrameSize, out var type, out var payload, out var consumed))
            {
                var message = FrameCodec.Decode(type, payload);
                _buffer.AsSpan(consumed, _filled - consumed).CopyTo(_buffer);
                _filled -= consumed;
                return message;
            }

            if (FrameCodec.TryReadHeader(_buffer.AsSpan(0, _filled), MaxFrameSize, out _, out var length) && ProtocolConstants.HeaderSize + length > _buffer.Length)
            {
                Array.Resize(ref _buffer, ProtocolConstants.HeaderSize + length);
            }
            else if (_filled == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            int read;
            try
            {
                read = await _socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("no frame from the hub in time");
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                throw new EndOfStreamException("the hub reset the connection", ex);
            }

            if (read == 0)
            {
                throw new EndOfStreamException("the hub closed the connection");
            }

            _filled += read;
        }
    }

    /// <summary>Reads frames until one of type <typeparamref name="T"/> arrives (others are skipped).</summary>
    public async Task<T> ReceiveAsync<T>(TimeSpan? timeout = null)
        where T : Message
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no {typeof(T).Name} in time");
            }

            if (await ReceiveAsync(remaining) is T wanted)
            {
                return wanted;
            }
        }
    }

    /// <summary>True when the hub closes the connection (after any frames it sends first) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    return false;
                }

                await ReceiveAsync(remaining);
            }
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
