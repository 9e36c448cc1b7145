using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;

namespace Drover.Protocol.Tests;

/// <summary>Cut points for splitting a frame into buffer segments (see <see cref="Segments.Split"/>).</summary>
public sealed record Cuts(int[] Points)
{
    public override string ToString() => $"Cuts[{string.Join(",", Points)}]";
}

/// <summary>Raw bytes for the garbage property: the whole input, printed as hex when a case fails.</summary>
public sealed record Garbage(byte[] Bytes)
{
    public override string ToString() => $"Garbage[{Convert.ToHexString(Bytes)}]";
}

/// <summary>FsCheck arbitraries for every protocol message, valid by construction (valid Unicode,
/// unique map keys, state 0-3, progress 0-100 or 255) and small enough for the default frame cap.</summary>
public static class MessageGenerators
{
    private static Gen<byte> U8 => Gen.Choose(0, 255).Select(i => (byte)i);

    private static Gen<ushort> U16 => Gen.OneOf(Gen.Elements<ushort>(0, 1, ushort.MaxValue), Gen.Choose(0, ushort.MaxValue).Select(i => (ushort)i));

    private static Gen<ulong> U64 => Gen.OneOf(
        Gen.Elements(0UL, 1UL, ulong.MaxValue, (ulong)long.MaxValue + 1),
        Gen.ArrayOf(U8, 8).Select(b => BinaryPrimitives.ReadUInt64BigEndian(b)));

    private static Gen<uint> U32 => U64.Select(v => (uint)v);

    private static Gen<long> I64 => U64.Select(v => (long)v);

    /// <summary>Any f64 bit pattern, NaN payloads and infinities included: the codec must keep the bits.</summary>
    private static Gen<double> F64 => Gen.OneOf(
        Gen.Elements(0.0, -0.0, 0.5, -2.5, double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, double.MaxValue),
        U64.Select(v => BitConverter.Int64BitsToDouble((long)v)));

    /// <summary>One Unicode scalar: ASCII mostly, then 2-, 3- and 4-byte UTF-8 forms (never a lone surrogate).</summary>
    private static Gen<string> Scalar => Gen.Frequency(
        (6, Gen.Choose(0x20, 0x7E)),
        (1, Gen.Choose(0x00, 0x1F)),
        (2, Gen.Choose(0x80, 0x7FF)),
        (2, Gen.OneOf(Gen.Choose(0x800, 0xD7FF), Gen.Choose(0xE000, 0xFFFF))),
        (1, Gen.Choose(0x10000, 0x10FFFF)))
        .Select(char.ConvertFromUtf32);

    public static Gen<string> Text => Gen.Sized(size => Gen.Choose(0, Math.Min(size, 24)))
        .SelectMany(n => Gen.ArrayOf(Scalar, n))
        .Select(parts => string.Concat(parts));

    private static Gen<string[]> TextList => Gen.Sized(size => Gen.Choose(0, Math.Min(size, 12)))
        .SelectMany(n => Gen.ArrayOf(Text, n));

    private static Gen<IReadOnlyDictionary<string, string>> TextMap => TextList
        .SelectMany(keys => Gen.ArrayOf(Text, keys.Length).Select(values => (keys, values)))
        .Select(kv =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < kv.keys.Length; i++)
            {
                map.TryAdd(kv.keys[i], kv.values[i]);
            }

            return (IReadOnlyDictionary<string, string>)map;
        });

    private static Gen<FieldValue> Field => Gen.OneOf(
        Gen.Constant(FieldValue.Null),
        Gen.Elements(true, false).Select(FieldValue.From),
        I64.Select(FieldValue.From),
        F64.Select(FieldValue.From),
        Text.Select(FieldValue.From));

    private static Gen<ErrorCode> Code => Gen.OneOf(
        Gen.Elements(Enum.GetValues<ErrorCode>()),
        U16.Select(v => (ErrorCode)v)); // receivers accept codes they do not know

    public static Arbitrary<Hello> HelloArb() => Arb.From(
        from min in U16
        from max in U16
        from id in Text
        from credential in Text
        from version in Text
        from labels in TextMap
        from capabilities in TextList
        from slots in U16
        select new Hello(min, max, id, credential, version, labels, capabilities, slots));

    public static Arbitrary<Welcome> WelcomeArb() => Arb.From(
        from version in U16
        from epoch in U64
        from interval in U32
        from slot in U32
        from time in I64
        from maxFrame in U32
        from maxFields in U16
        from hub in Text
        select new Welcome(version, epoch, interval, slot, time, maxFrame, maxFields, hub));

    public static Arbitrary<Refuse> RefuseArb() => Arb.From(
        from code in Code
        from retry in U32
        from reason in Text
        select new Refuse(code, retry, reason));

    public static Arbitrary<Status> StatusArb() => Arb.From(
        from sequence in U64
        from state in Gen.Elements(Enum.GetValues<AgentState>())
        from progress in Gen.OneOf(Gen.Choose(0, 100).Select(p => (byte)p), Gen.Constant(ProtocolConstants.NoProgress))
        from count in Gen.Sized(size => Gen.Choose(0, Math.Min(size, 16)))
        from names in Gen.ArrayOf(Text, count)
        from values in Gen.ArrayOf(Field, count)
        select new Status(sequence, state, progress, names.Zip(values, (n, v) => new KeyValuePair<string, FieldValue>(n, v)).ToArray()));

    public static Arbitrary<StatusAck> StatusAckArb() => Arb.From(U64.Select(v => new StatusAck(v)));

    public static Arbitrary<Ping> PingArb() => Arb.From(U64.Select(v => new Ping(v)));

    public static Arbitrary<Pong> PongArb() => Arb.From(U64.Select(v => new Pong(v)));

    public static Arbitrary<Backoff> BackoffArb() => Arb.From(
        from retry in U32
        from reason in Text
        select new Backoff(retry, reason));

    public static Arbitrary<Redirect> RedirectArb() => Arb.From(
        from hubs in TextList
        from reason in Text
        select new Redirect(hubs, reason));

    public static Arbitrary<Reschedule> RescheduleArb() => Arb.From(
        from interval in U32
        from slot in U32
        select new Reschedule(interval, slot));

    public static Arbitrary<Bye> ByeArb() => Arb.From(
        from code in Code
        from reason in Text
        select new Bye(code, reason));

    /// <summary>Job ids as the hub makes them, and sometimes anything (ids are the hub's business, not the codec's).</summary>
    private static Gen<string> JobId => Gen.OneOf(
        Gen.Choose(1, 64).SelectMany(n => Gen.ArrayOf(Gen.Elements("abcXYZ019._:-".ToCharArray()), n)).Select(c => new string(c)),
        Text);

    private static Gen<byte[]> Bytes => Gen.Sized(size => Gen.Choose(0, Math.Min(size * 4, 256)))
        .SelectMany(n => Gen.ArrayOf(U8, n));

    private static Gen<int> I32 => U64.Select(v => (int)v);

    public static Arbitrary<Job> JobArb() => Arb.From(
        from id in JobId
        from attempt in U32
        from deadline in I64
        from timeout in U32
        from fileName in Text
        from sha in Gen.ArrayOf(U8, ProtocolConstants.Sha256Length)
        from args in Text
        from content in Bytes
        select new Job(id, attempt, deadline, timeout, fileName, sha, args, content));

    public static Arbitrary<JobAccepted> JobAcceptedArb() => Arb.From(
        from id in JobId
        from attempt in U32
        select new JobAccepted(id, attempt));

    public static Arbitrary<JobBusy> JobBusyArb() => Arb.From(
        from id in JobId
        from attempt in U32
        from reason in Text
        select new JobBusy(id, attempt, reason));

    public static Arbitrary<JobResult> JobResultArb() => Arb.From(
        from id in JobId
        from attempt in U32
        from outcome in Gen.Elements(Enum.GetValues<JobOutcome>())
        from exitCode in I32
        from duration in U32
        from stdout in Bytes
        from stderr in Bytes
        from outFile in Bytes
        from error in Text
        select new JobResult(id, attempt, outcome, exitCode, duration, stdout, stderr, outFile, error));

    public static Arbitrary<JobResultAck> JobResultAckArb() => Arb.From(
        from id in JobId
        from attempt in U32
        select new JobResultAck(id, attempt));

    public static Arbitrary<JobCancel> JobCancelArb() => Arb.From(
        from id in JobId
        from attempt in U32
        from reason in Text
        select new JobCancel(id, attempt, reason));

    public static Arbitrary<Message> MessageArb() => Arb.From(Gen.OneOf(
        HelloArb().Generator.Select(m => (Message)m),
        WelcomeArb().Generator.Select(m => (Message)m),
        RefuseArb().Generator.Select(m => (Message)m),
        StatusArb().Generator.Select(m => (Message)m),
        StatusAckArb().Generator.Select(m => (Message)m),
        PingArb().Generator.Select(m => (Message)m),
        PongArb().Generator.Select(m => (Message)m),
        BackoffArb().Generator.Select(m => (Message)m),
        RedirectArb().Generator.Select(m => (Message)m),
        RescheduleArb().Generator.Select(m => (Message)m),
        ByeArb().Generator.Select(m => (Message)m),
        JobArb().Generator.Select(m => (Message)m),
        JobAcceptedArb().Generator.Select(m => (Message)m),
        JobBusyArb().Generator.Select(m => (Message)m),
        JobResultArb().Generator.Select(m => (Message)m),
        JobResultAckArb().Generator.Select(m => (Message)m),
        JobCancelArb().Generator.Select(m => (Message)m)));

    public static Arbitrary<Cuts> CutsArb() => Arb.From(
        Gen.Sized(size => Gen.Choose(0, Math.Min(size, 12)))
            .SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 4096), n))
            .Select(points => new Cuts(points)));

    /// <summary>Garbage of three shapes: any bytes; a true length prefix with a known or unknown type and
    /// random payload; a real frame with a few bytes flipped.</summary>
    public static Arbitrary<Garbage> GarbageArb() => Arb.From(Gen.OneOf(
        Gen.Sized(size => Gen.Choose(0, size * 4)).SelectMany(n => Gen.ArrayOf(U8, n)),
        from type in Gen.OneOf(Gen.Elements(Enum.GetValues<MessageType>().Select(t => (byte)t).ToArray()), U8)
        from n in Gen.Sized(size => Gen.Choose(0, size * 2))
        from payload in Gen.ArrayOf(U8, n)
        select Frames.Raw(type, payload),
        from message in MessageArb().Generator
        from flips in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 1 << 16), U8), 3)
        select Flip(FrameCodec.ToArray(message), flips)).Select(bytes => new Garbage(bytes)));

    private static byte[] Flip(byte[] frame, (int Index, byte Value)[] flips)
    {
        // Keep the length prefix intact (corrupting it is the "any bytes" case): flip payload and type bytes.
        foreach (var (index, value) in flips)
        {
            frame[4 + (index % (frame.Length - 4))] ^= value;
        }

        return frame;
    }
}
