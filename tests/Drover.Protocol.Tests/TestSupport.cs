using System.Buffers;

namespace Drover.Protocol.Tests;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, as a pipe hands them out.</summary>
internal static class Segments
{
    /// <summary>Splits <paramref name="bytes"/> at the given cut points (taken modulo length + 1,
    /// sorted; repeats give empty segments, which a sequence may legally contain).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, IEnumerable<int> cuts)
    {
        var points = cuts.Select(c => (int)((uint)c % (uint)(bytes.Length + 1))).Order().ToList();
        points.Add(bytes.Length);
        Segment? first = null;
        Segment? last = null;
        var start = 0;
        foreach (var end in points)
        {
            var memory = bytes.AsMemory(start, end - start);
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }

            start = end;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

/// <summary>Compares messages by value, collections included (records compare collections by reference).</summary>
internal static class MessageAssert
{
    public static void Equivalent(Message expected, Message actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(expected.Type, actual.Type);
        switch (expected, actual)
        {
            case (Hello e, Hello a):
                Assert.Equal(e.MinVersion, a.MinVersion);
                Assert.Equal(e.MaxVersion, a.MaxVersion);
                Assert.Equal(e.AgentId, a.AgentId);
                Assert.Equal(e.Credential, a.Credential);
                Assert.Equal(e.AgentVersion, a.AgentVersion);
                Assert.Equal(e.Labels.ToList(), a.Labels.ToList());
                Assert.Equal(e.Capabilities, a.Capabilities);
                Assert.Equal(e.JobSlots, a.JobSlots);
                break;
            case (Status e, Status a):
                Assert.Equal(e.Sequence, a.Sequence);
                Assert.Equal(e.State, a.State);
                Assert.Equal(e.Progress, a.Progress);
                Assert.Equal(e.Fields, a.Fields);
                break;
            case (Redirect e, Redirect a):
                Assert.Equal(e.Hubs, a.Hubs);
                Assert.Equal(e.Reason, a.Reason);
                break;
            case (Job or JobResult, _):
                // Byte members compare by reference in records: compare the encodings.
                Assert.Equal(FrameCodec.ToArray(expected), FrameCodec.ToArray(actual));
                break;
            default:
                // The remaining messages hold only scalars and strings: record equality is by value.
                Assert.Equal(expected, actual);
                break;
        }
    }
}

internal static class Frames
{
    /// <summary>A frame with the given type and raw payload, its length prefix true to the payload.</summary>
    public static byte[] Raw(byte type, params byte[] payload)
    {
        var frame = new byte[ProtocolConstants.HeaderSize + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        frame[4] = type;
        payload.CopyTo(frame, ProtocolConstants.HeaderSize);
        return frame;
    }

    /// <summary>Reads one frame from contiguous bytes and decodes it.</summary>
    public static Message ReadOne(byte[] frame, int maxFrameSize = ProtocolConstants.DefaultMaxFrameSize)
    {
        Assert.True(FrameCodec.TryReadFrame(frame, maxFrameSize, out var type, out var payload, out var consumed));
        Assert.Equal(frame.Length, consumed);
        return FrameCodec.Decode(type, payload);
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(Uri.IsHexDigit)));
}
