using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Drover.Protocol;

namespace Drover.Benchmarks;

/// <summary>The frame codec on the hub's hot path: a status in, an ack out. Spans only, as in the
/// hub's socket loop (which cuts frames out of a pooled receive buffer and writes acks into a
/// stack buffer).</summary>
[Config(typeof(ShortConfig))]
public class FrameCodecBenchmarks
{
    private readonly byte[] _output = new byte[512];
    private Status _status = null!;
    private byte[] _statusFrame = null!;
    private byte[] _helloFrame = null!;

    [GlobalSetup]
    public void Setup()
    {
        _status = Samples.Status();
        _statusFrame = FrameCodec.ToArray(_status);
        _helloFrame = FrameCodec.ToArray(Samples.Hello());
        Console.WriteLine($"// status frame: {_statusFrame.Length} bytes; hello frame: {_helloFrame.Length} bytes");
    }

    /// <summary>A ~120-byte status into a span, as the agent's <c>AgentConnection.SendAsync</c> does it:
    /// the frame size, then the write (which computes the payload size again and checks it).</summary>
    [Benchmark]
    public int EncodeStatus() => FrameCodec.Write(_status, _output.AsSpan(0, FrameCodec.GetFrameSize(_status)));

    /// <summary>Cut the frame out of the buffer and decode it into a <see cref="Status"/> (what the API and the flush do; the hub no longer does it per report).</summary>
    [Benchmark]
    public Message DecodeStatus()
    {
        FrameCodec.TryReadFrame(_statusFrame, ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload, out _);
        return FrameCodec.Decode(type, payload);
    }

    /// <summary>An ack through the general message path: <c>connection.Send(new StatusAck(seq))</c> (the hub now writes acks without the message object),
    /// then the frame size and the write into a stack buffer.</summary>
    /// <summary>What the hub does with a status on the hot path: check every byte, allocate nothing.</summary>
    [Benchmark]
    public ulong ValidateStatus()
    {
        FrameCodec.TryReadFrame(_statusFrame, ProtocolConstants.DefaultMaxFrameSize, out _, out var payload, out _);
        return Status.Validate(payload, ProtocolConstants.DefaultMaxStatusFields);
    }

    [Benchmark]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods only.")]
    public int EncodeStatusAck() => Send(new StatusAck(4_711));

    /// <summary>Cut and decode a hello (once per session: three labels, two capabilities).</summary>
    [Benchmark]
    public Message DecodeHello()
    {
        FrameCodec.TryReadFrame(_helloFrame, ProtocolConstants.MaxHelloFrameSize, out var type, out var payload, out _);
        return FrameCodec.Decode(type, payload);
    }

    /// <summary>Stands for the hub's <c>AgentConnection.SendFinal</c> without the socket. Not inlined, so the
    /// message escapes as it does in the hub; inlined, the JIT would put the ack on the stack and measure
    /// an allocation-free path the hub does not have.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Send(Message message)
    {
        var size = FrameCodec.GetFrameSize(message);
        Span<byte> buffer = stackalloc byte[512];
        return FrameCodec.Write(message, buffer[..size]);
    }
}
