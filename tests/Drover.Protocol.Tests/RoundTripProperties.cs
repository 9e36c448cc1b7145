using System.Buffers;
using FsCheck.Xunit;

namespace Drover.Protocol.Tests;

/// <summary>Random message → encode → read the frame (span, single-segment sequence, sequence cut into
/// many segments) → decode → encode again gives the same bytes, for every message type.</summary>
[Properties(Arbitrary = [typeof(MessageGenerators)], MaxTest = 200)]
public sealed class RoundTripProperties
{
    [Property]
    public void Hello_round_trips(Hello message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Welcome_round_trips(Welcome message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Refuse_round_trips(Refuse message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Status_round_trips(Status message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void StatusAck_round_trips(StatusAck message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Ping_round_trips(Ping message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Pong_round_trips(Pong message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Backoff_round_trips(Backoff message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Redirect_round_trips(Redirect message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Reschedule_round_trips(Reschedule message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Bye_round_trips(Bye message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void Job_round_trips(Job message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void JobAccepted_round_trips(JobAccepted message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void JobBusy_round_trips(JobBusy message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void JobResult_round_trips(JobResult message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void JobResultAck_round_trips(JobResultAck message, Cuts cuts) => AssertRoundTrip(message, cuts);

    [Property]
    public void JobCancel_round_trips(JobCancel message, Cuts cuts) => AssertRoundTrip(message, cuts);

    /// <summary>Two frames back to back in one split sequence: the reader stops exactly at the frame
    /// boundary and the second frame is read from where the first ended.</summary>
    [Property]
    public void Consecutive_frames_in_a_split_sequence_are_read_one_by_one(Message first, Message second, Cuts cuts)
    {
        var a = FrameCodec.ToArray(first);
        var b = FrameCodec.ToArray(second);
        var sequence = Segments.Split([.. a, .. b], cuts.Points);

        Assert.True(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out var type1, out var payload1));
        Assert.Equal(a, FrameCodec.ToArray(FrameCodec.Decode(type1, payload1)));
        Assert.Equal(b.Length, sequence.Length);
        Assert.True(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out var type2, out var payload2));
        Assert.Equal(b, FrameCodec.ToArray(FrameCodec.Decode(type2, payload2)));
        Assert.True(sequence.IsEmpty);
        Assert.False(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out _, out _));
    }

    /// <summary>Every strict prefix of a frame is "need more", in both forms, and leaves the buffer as it was.</summary>
    [Property(MaxTest = 50)]
    public void Every_prefix_of_a_frame_needs_more(Message message)
    {
        var bytes = FrameCodec.ToArray(message);
        for (var length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes.AsSpan(0, length);
            Assert.False(FrameCodec.TryReadFrame(prefix, ProtocolConstants.DefaultMaxFrameSize, out _, out _, out var consumed));
            Assert.Equal(0, consumed);

            var sequence = Segments.Split(prefix.ToArray(), [length / 2, length / 3]);
            Assert.False(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out _, out _));
            Assert.Equal(length, sequence.Length);
        }
    }

    private static void AssertRoundTrip(Message message, Cuts cuts)
    {
        var bytes = FrameCodec.ToArray(message);
        Assert.Equal(FrameCodec.GetFrameSize(message), bytes.Length);

        // IBufferWriter form writes the same bytes.
        var writer = new ArrayBufferWriter<byte>();
        Assert.Equal(bytes.Length, FrameCodec.Write(message, writer));
        Assert.Equal(bytes, writer.WrittenSpan.ToArray());

        // Span form.
        Assert.True(FrameCodec.TryReadFrame(bytes, ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload, out var consumed));
        Assert.Equal(message.Type, type);
        Assert.Equal(bytes.Length, consumed);
        var decoded = FrameCodec.Decode(type, payload);
        MessageAssert.Equivalent(message, decoded);
        Assert.Equal(bytes, FrameCodec.ToArray(decoded));

        // Sequence form, one segment and many.
        AssertSequenceRoundTrip(new ReadOnlySequence<byte>(bytes), message, bytes);
        AssertSequenceRoundTrip(Segments.Split(bytes, cuts.Points), message, bytes);
    }

    private static void AssertSequenceRoundTrip(ReadOnlySequence<byte> sequence, Message message, byte[] bytes)
    {
        Assert.True(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload));
        Assert.Equal(message.Type, type);
        Assert.True(sequence.IsEmpty);
        Assert.Equal(bytes.Length - ProtocolConstants.HeaderSize, payload.Length);
        var decoded = FrameCodec.Decode(type, payload);
        MessageAssert.Equivalent(message, decoded);
        Assert.Equal(bytes, FrameCodec.ToArray(decoded));
    }
}
