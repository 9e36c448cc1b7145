using System.Buffers.Binary;
using Drover.Protocol;

namespace Drover.TestUtilities;

/// <summary>How a hostile frame differs from an honest one.</summary>
public enum FrameMutation
{
    /// <summary>A frame cut short; the connection is closed in the middle of it.</summary>
    Truncated,

    /// <summary>An honest frame with one to three bits flipped anywhere (header included).</summary>
    BitFlip,

    /// <summary>A length prefix over the hub's cap (16 KiB before hello, 64 KiB after), up to 4 GiB.</summary>
    OversizeLength,

    /// <summary>An honest frame whose type byte is one version 1 does not assign.</summary>
    UnknownType,

    /// <summary>A well-formed message in the wrong place: anything before hello, a second hello, a message only the
    /// hub sends, job messages for jobs the hub never sent, reports with sequence numbers out of order.</summary>
    OutOfOrder,
}

/// <summary>One hostile connection: the bytes to send, how many mutated frames they hold, and how the connection ends.</summary>
/// <param name="Bytes">Everything to send, in order (a valid hello first when <paramref name="Welcomed"/>).</param>
/// <param name="Mutations">The mutated frames in <paramref name="Bytes"/>, in order (the hello and a closing bye are not mutated).</param>
/// <param name="Welcomed">True when the connection starts with a valid hello (a pool id and the right token).</param>
/// <param name="CloseAtOnce">True when the last frame is truncated: the sender closes right after the bytes.</param>
public sealed record HostileScript(byte[] Bytes, IReadOnlyList<FrameMutation> Mutations, bool Welcomed, bool CloseAtOnce);

/// <summary>A seeded generator of hostile connections against a hub (issue 10's fuzzing item): the same seed gives
/// the same scripts, byte for byte. About 40 % of the connections attack before the handshake (one frame: a bit-flipped
/// or truncated hello, an oversize length, an unknown type, a report or job message before hello); the others say a
/// valid hello with an id from <c>agentIds</c>, send up to 30 valid-but-out-of-order messages the hub answers or
/// ignores (results, acceptances and busy answers for jobs it never sent, reports whose sequence goes backwards, pongs
/// nobody asked for), then one fatal frame (a bit flip, an oversize length, an unknown type, a second hello, a message
/// only a hub sends, a truncation) or a bye.</summary>
public sealed class MutatedFrames
{
    private const int MaxMiddleFrames = 30;

    private readonly Random _random;
    private readonly string _token;
    private readonly IReadOnlyList<string> _agentIds;

    public MutatedFrames(int seed, string token, IReadOnlyList<string> agentIds)
    {
        ArgumentNullException.ThrowIfNull(agentIds);
        ArgumentOutOfRangeException.ThrowIfZero(agentIds.Count);
        _random = new Random(seed);
        _token = token;
        _agentIds = agentIds;
    }

    /// <summary>Scripts until they hold at least <paramref name="frames"/> mutated frames.</summary>
    public IReadOnlyList<HostileScript> Take(int frames)
    {
        var scripts = new List<HostileScript>();
        for (var total = 0; total < frames;)
        {
            var script = Next();
            scripts.Add(script);
            total += script.Mutations.Count;
        }

        return scripts;
    }

    /// <summary>The next connection's script.</summary>
    public HostileScript Next()
    {
        var bytes = new List<byte>();
        var mutations = new List<FrameMutation>();
        if (_random.NextDouble() < 0.4)
        {
            var (frame, mutation, truncated) = BeforeHello();
            bytes.AddRange(frame);
            mutations.Add(mutation);
            return new HostileScript([.. bytes], mutations, Welcomed: false, CloseAtOnce: truncated);
        }

        bytes.AddRange(FrameCodec.ToArray(Hello(_agentIds[_random.Next(_agentIds.Count)], _token)));
        var middle = _random.Next(MaxMiddleFrames + 1);
        for (var i = 0; i < middle; i++)
        {
            bytes.AddRange(TolerableOutOfOrder());
            mutations.Add(FrameMutation.OutOfOrder);
        }

        if (_random.NextDouble() < 0.1)
        {
            bytes.AddRange(FrameCodec.ToArray(new Bye(ErrorCode.None, "fuzz done")));
            return new HostileScript([.. bytes], mutations, Welcomed: true, CloseAtOnce: false);
        }

        var (last, lastMutation, cut) = Fatal();
        bytes.AddRange(last);
        mutations.Add(lastMutation);
        return new HostileScript([.. bytes], mutations, Welcomed: true, CloseAtOnce: cut);
    }

    private (byte[] Frame, FrameMutation Mutation, bool Truncated) BeforeHello()
    {
        switch (_random.Next(6))
        {
            case 0:
                return (Truncate(HelloFrame()), FrameMutation.Truncated, true);
            case 1:
                return (FlipBits(HelloFrame()), FrameMutation.BitFlip, false);
            case 2:
                return (OversizeHeader(ProtocolConstants.MaxHelloFrameSize), FrameMutation.OversizeLength, false);
            case 3:
                return (WithUnknownType(HelloFrame()), FrameMutation.UnknownType, false);
            default:
                // A report, a job message, a ping or a bye before any hello.
                var early = _random.Next(4) switch
                {
                    0 => FrameCodec.ToArray(RandomStatus()),
                    1 => FrameCodec.ToArray(UnknownJobResult()),
                    2 => FrameCodec.ToArray(new Ping(NextU64())),
                    _ => FrameCodec.ToArray(new JobAccepted(JobId(), (uint)_random.Next(1, 5))),
                };
                return (early, FrameMutation.OutOfOrder, false);
        }
    }

    /// <summary>Messages the hub must take in its stride after a welcome: answered (acks, job_cancel) or ignored.</summary>
    private byte[] TolerableOutOfOrder() => _random.Next(6) switch
    {
        0 => FrameCodec.ToArray(UnknownJobResult()),
        1 => FrameCodec.ToArray(new JobAccepted(JobId(), (uint)_random.Next(1, 5))),
        2 => FrameCodec.ToArray(new JobBusy(JobId(), (uint)_random.Next(1, 5), "fuzz: no slot")),
        3 => FrameCodec.ToArray(new Pong(NextU64())),
        _ => FrameCodec.ToArray(RandomStatus()), // sequence numbers at random: backwards, repeated, 0, ulong.MaxValue
    };

    private (byte[] Frame, FrameMutation Mutation, bool Truncated) Fatal()
    {
        switch (_random.Next(7))
        {
            case 0:
                return (Truncate(AgentFrame()), FrameMutation.Truncated, true);
            case 1:
            case 2:
                return (FlipBits(AgentFrame()), FrameMutation.BitFlip, false);
            case 3:
                return (OversizeHeader(ProtocolConstants.DefaultMaxFrameSize), FrameMutation.OversizeLength, false);
            case 4:
                return (WithUnknownType(AgentFrame()), FrameMutation.UnknownType, false);
            case 5:
                return (HelloFrame(), FrameMutation.OutOfOrder, false); // a second hello in one session
            default:
                // A message only a hub sends.
                Message hubOnly = _random.Next(4) switch
                {
                    0 => new Welcome(1, NextU64(), 1000, 0, 0, 65536, 64, "not-a-hub"),
                    1 => new StatusAck(NextU64()),
                    2 => new Reschedule(1000, 0),
                    _ => new JobCancel(JobId(), 1, "fuzz"),
                };
                return (FrameCodec.ToArray(hubOnly), FrameMutation.OutOfOrder, false);
        }
    }

    private byte[] HelloFrame() => FrameCodec.ToArray(Hello(_agentIds[_random.Next(_agentIds.Count)], _token));

    /// <summary>An honest frame an agent could send after its welcome.</summary>
    private byte[] AgentFrame() => _random.Next(4) switch
    {
        0 => FrameCodec.ToArray(UnknownJobResult()),
        1 => FrameCodec.ToArray(new Ping(NextU64())),
        2 => FrameCodec.ToArray(new JobBusy(JobId(), 1, "busy")),
        _ => FrameCodec.ToArray(RandomStatus()),
    };

    private static Hello Hello(string id, string token) => new(
        ProtocolConstants.MinVersion,
        ProtocolConstants.MaxVersion,
        id,
        token,
        "fuzz-1.0",
        new Dictionary<string, string> { ["role"] = "fuzz" },
        ["files"],
        0);

    private Status RandomStatus()
    {
        var count = _random.Next(6);
        var fields = new List<KeyValuePair<string, FieldValue>>(count);
        for (var i = 0; i < count; i++)
        {
            FieldValue value = _random.Next(5) switch
            {
                0 => FieldValue.Null,
                1 => FieldValue.From(_random.Next(2) == 0),
                2 => FieldValue.From(_random.NextInt64(long.MinValue, long.MaxValue)),
                3 => FieldValue.From(RandomDouble()),
                _ => FieldValue.From(new string('x', _random.Next(40))),
            };
            fields.Add(new($"f{i}", value));
        }

        var sequence = _random.Next(4) == 0 ? ulong.MaxValue - (ulong)_random.Next(3) : (ulong)_random.Next(0, 50);
        return new Status(sequence, (AgentState)_random.Next(4), (byte)_random.Next(101), fields);
    }

    /// <summary>Any bit pattern, and one time in two a NaN or an infinity (valid on the wire; JSON has no literal for them).</summary>
    private double RandomDouble() => _random.Next(6) switch
    {
        0 => double.NaN,
        1 => double.PositiveInfinity,
        2 => double.NegativeInfinity,
        _ => BitConverter.Int64BitsToDouble(_random.NextInt64(long.MinValue, long.MaxValue)),
    };

    private JobResult UnknownJobResult()
    {
        var tail = new byte[_random.Next(64)];
        _random.NextBytes(tail);
        return new JobResult(JobId(), (uint)_random.Next(1, 5), (JobOutcome)_random.Next(5), _random.Next(-1, 256), (uint)_random.Next(100_000), tail, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, "fuzz");
    }

    private string JobId() => $"j-fuzz-{_random.Next(1_000_000):D6}";

    private ulong NextU64() => (ulong)_random.NextInt64(long.MinValue, long.MaxValue);

    private byte[] Truncate(byte[] frame) => frame[.._random.Next(1, frame.Length)];

    private byte[] FlipBits(byte[] frame)
    {
        var flips = _random.Next(1, 4);
        for (var i = 0; i < flips; i++)
        {
            frame[_random.Next(frame.Length)] ^= (byte)(1 << _random.Next(8));
        }

        return frame;
    }

    /// <summary>A header whose length is over <paramref name="cap"/>, a type, and a few bytes of the body.</summary>
    private byte[] OversizeHeader(int cap)
    {
        var frame = new byte[ProtocolConstants.HeaderSize + _random.Next(16)];
        var length = (uint)cap + 1 + (uint)_random.NextInt64(0, uint.MaxValue - (uint)cap);
        BinaryPrimitives.WriteUInt32BigEndian(frame, length);
        frame[4] = (byte)MessageType.Status;
        return frame;
    }

    private byte[] WithUnknownType(byte[] frame)
    {
        byte type;
        do
        {
            type = (byte)_random.Next(256);
        }
        while (Enum.IsDefined((MessageType)type));

        frame[4] = type;
        return frame;
    }
}
