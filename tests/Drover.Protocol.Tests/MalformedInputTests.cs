using System.Buffers;
using System.Buffers.Binary;
using FsCheck.Xunit;

namespace Drover.Protocol.Tests;

/// <summary>Input that can never become a valid frame throws <see cref="ProtocolException"/> with the
/// right code; input that is merely incomplete returns false ("need more").</summary>
public sealed class MalformedInputTests
{
    private const int Max = ProtocolConstants.DefaultMaxFrameSize;

    [Theory]
    [InlineData(Max + 1, Max)]
    [InlineData(uint.MaxValue, Max)]
    [InlineData(ProtocolConstants.MaxHelloFrameSize + 1, ProtocolConstants.MaxHelloFrameSize)]
    public void Frame_over_the_limit_is_rejected_from_the_header_alone(uint length, int maxFrameSize)
    {
        // Only the 5 header bytes have arrived: the body is neither waited for nor allocated.
        var header = new byte[ProtocolConstants.HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, length);
        header[4] = (byte)MessageType.Status;

        AssertCode(ErrorCode.FrameTooLarge, () => FrameCodec.TryReadHeader(header, maxFrameSize, out _, out _));
        AssertCode(ErrorCode.FrameTooLarge, () => FrameCodec.TryReadFrame(header, maxFrameSize, out _, out _, out _));
        AssertCode(ErrorCode.FrameTooLarge, () =>
        {
            var sequence = new ReadOnlySequence<byte>(header);
            return FrameCodec.TryReadFrame(ref sequence, maxFrameSize, out _, out _);
        });
        AssertCode(ErrorCode.FrameTooLarge, () =>
        {
            var sequence = Segments.Split(header, [1, 2, 3, 4]); // header split across segments
            return FrameCodec.TryReadFrame(ref sequence, maxFrameSize, out _, out _);
        });
    }

    [Fact]
    public void Frame_of_exactly_the_limit_is_accepted()
    {
        var header = new byte[ProtocolConstants.HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, Max);
        Assert.True(FrameCodec.TryReadHeader(header, Max, out _, out var length));
        Assert.Equal(Max, length);
        Assert.False(FrameCodec.TryReadFrame(header, Max, out _, out _, out _)); // body not here yet
    }

    [Fact]
    public void Length_prefix_that_promises_more_than_arrived_needs_more()
    {
        // Says 100, only 10 payload bytes are buffered: not an error yet, just "need more".
        var frame = new byte[ProtocolConstants.HeaderSize + 10];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 100);
        frame[4] = (byte)MessageType.Ping;

        Assert.False(FrameCodec.TryReadFrame(frame, Max, out _, out var payload, out var consumed));
        Assert.Equal(0, consumed);
        Assert.True(payload.IsEmpty);

        var sequence = Segments.Split(frame, [3, 7]);
        Assert.False(FrameCodec.TryReadFrame(ref sequence, Max, out _, out _));
        Assert.Equal(frame.Length, sequence.Length); // not advanced
    }

    [Fact]
    public void Fewer_than_five_bytes_need_more()
    {
        for (var n = 0; n < ProtocolConstants.HeaderSize; n++)
        {
            var bytes = new byte[n];
            Assert.False(FrameCodec.TryReadHeader(bytes, Max, out _, out _));
            Assert.False(FrameCodec.TryReadFrame(bytes, Max, out _, out _, out _));
            var sequence = new ReadOnlySequence<byte>(bytes);
            Assert.False(FrameCodec.TryReadFrame(ref sequence, Max, out _, out _));
        }
    }

    [Fact]
    public void Payload_shorter_than_its_fields_is_malformed()
    {
        // A complete frame whose length prefix is true, but a ping needs 8 payload bytes, not 4.
        AssertMalformed(Frames.Raw((byte)MessageType.Ping, 1, 2, 3, 4));
        AssertMalformed(Frames.Raw((byte)MessageType.Welcome));
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x06)]
    [InlineData(0x14)]
    [InlineData(0x36)]
    [InlineData(0x4F)]
    [InlineData(0x50)]
    [InlineData(0xFF)]
    public void Unknown_type_is_rejected(byte type)
    {
        var frame = Frames.Raw(type, 0, 0, 0, 0, 0, 0, 0, 0);
        AssertCode(ErrorCode.UnknownMessageType, () => Frames.ReadOne(frame));
    }

    public static TheoryData<string> VectorNames() => DocVectorTests.VectorNames();

    /// <summary>Every vector cut short at every byte (with a length prefix that matches the cut) is Malformed.</summary>
    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Truncated_fields_are_malformed(string name)
    {
        var full = FrameCodec.ToArray(DocVectors.Expected[name]);
        var payload = full.AsSpan(ProtocolConstants.HeaderSize).ToArray();

        // A hello's agent_key is optional: cut just before it, the hello is whole (and keyless).
        var withoutOptional = DocVectors.Expected[name] is Hello { AgentKey.Length: > 0 } hello
            ? payload.Length - 2 - System.Text.Encoding.UTF8.GetByteCount(hello.AgentKey)
            : -1;
        for (var cut = 0; cut < payload.Length; cut++)
        {
            if (cut == withoutOptional)
            {
                continue;
            }

            AssertMalformed(Frames.Raw(full[4], payload[..cut]));
        }
    }

    /// <summary>Every vector with extra bytes after its last field is Malformed.</summary>
    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Trailing_bytes_are_malformed(string name)
    {
        var full = FrameCodec.ToArray(DocVectors.Expected[name]);
        AssertMalformed(Frames.Raw(full[4], [.. full.AsSpan(ProtocolConstants.HeaderSize), 0]));
    }

    [Theory]
    [InlineData("ff")] // never valid in UTF-8
    [InlineData("c3")] // truncated 2-byte sequence
    [InlineData("c0 80")] // overlong NUL
    [InlineData("ed a0 80")] // encoded surrogate U+D800
    [InlineData("f4 90 80 80")] // above U+10FFFF
    [InlineData("80")] // lone continuation byte
    public void Invalid_utf8_is_malformed(string badBytes)
    {
        var bad = Frames.Hex(badBytes);
        byte[] payload = [0x00, 0x00, 0x00, (byte)(bad.Length + 1), (byte)'a', .. bad]; // bye: code 0, reason
        AssertMalformed(Frames.Raw((byte)MessageType.Bye, payload));
    }

    [Fact]
    public void Hello_with_a_bad_magic_is_malformed()
    {
        var frame = FrameCodec.ToArray(DocVectors.Expected["hello"]);
        frame[5] = (byte)'X';
        AssertMalformed(frame);
    }

    [Theory]
    [InlineData(0x02)]
    [InlineData(0xFF)]
    public void Bool_field_other_than_0_or_1_is_malformed(byte value)
    {
        AssertMalformed(StatusWithOneField(0x01, value));
    }

    [Theory]
    [InlineData(0x05)]
    [InlineData(0xFF)]
    public void Unknown_field_kind_is_malformed(byte kind)
    {
        AssertMalformed(StatusWithOneField(kind));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(255)]
    public void Unknown_agent_state_is_malformed(byte state)
    {
        var frame = FrameCodec.ToArray(DocVectors.Expected["status"]);
        frame[5 + 8] = state;
        AssertMalformed(frame);
    }

    [Theory]
    [InlineData(101)]
    [InlineData(254)]
    public void Progress_outside_0_100_and_255_is_malformed(byte progress)
    {
        var frame = FrameCodec.ToArray(DocVectors.Expected["status"]);
        frame[5 + 9] = progress;
        AssertMalformed(frame);
    }

    [Fact]
    public void List_count_that_lies_is_malformed()
    {
        // Redirect: hubs list says 65535 items, one is present, then the reason.
        AssertMalformed(Frames.Raw((byte)MessageType.Redirect, 0xFF, 0xFF, 0x00, 0x01, (byte)'h', 0x00, 0x00));
        // Says 2, holds 1 (and the reason string is read as the second item, leaving nothing for the reason).
        AssertMalformed(Frames.Raw((byte)MessageType.Redirect, 0x00, 0x02, 0x00, 0x01, (byte)'h', 0x00, 0x00));
    }

    [Fact]
    public void Status_field_count_that_lies_is_malformed()
    {
        var frame = FrameCodec.ToArray(DocVectors.Expected["status"]);
        frame[5 + 10] = 0xFF;
        frame[5 + 11] = 0xFF;
        AssertMalformed(frame);
    }

    [Fact]
    public void Map_count_that_lies_is_malformed()
    {
        var hello = (Hello)DocVectors.Expected["hello-empty-collections"];
        var frame = FrameCodec.ToArray(hello);
        var labelsAt = ProtocolConstants.HeaderSize + 8 + 3 + 2 + 2; // magic+versions, "a", "", ""
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(labelsAt)));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(labelsAt), 40_000);
        AssertMalformed(frame);
    }

    [Fact]
    public void Duplicate_map_key_is_malformed()
    {
        // A hello whose labels map holds "k" twice (the encoder cannot produce this: write it by hand).
        byte[] payload =
        [
            0x44, 0x52, 0x56, 0x52, 0x00, 0x01, 0x00, 0x01, // magic, min 1, max 1
            0x00, 0x01, (byte)'a', 0x00, 0x00, 0x00, 0x00, // id "a", credential "", version ""
            0x00, 0x02, // two labels
            0x00, 0x01, (byte)'k', 0x00, 0x01, (byte)'1',
            0x00, 0x01, (byte)'k', 0x00, 0x01, (byte)'2',
            0x00, 0x00, 0x00, 0x00, // no capabilities, 0 job slots
        ];
        var exception = AssertMalformed(Frames.Raw((byte)MessageType.Hello, payload));
        Assert.Contains("duplicate", exception.Message, StringComparison.Ordinal);

        // The same bytes with distinct keys decode: the test above fails for the right reason.
        payload[25] = (byte)'j';
        Assert.IsType<Hello>(Frames.ReadOne(Frames.Raw((byte)MessageType.Hello, payload)));
    }

    [Theory]
    [InlineData(0x7FFFFFFFu)]
    [InlineData(0xFFFFFFFFu)]
    [InlineData(9u)] // one byte more than the 8 that follow
    public void Job_content_length_that_lies_is_malformed_and_allocates_nothing_large(uint length)
    {
        var job = (Job)DocVectors.Expected["job"];
        var frame = FrameCodec.ToArray(job);
        var contentAt = frame.Length - job.Content.Length - 4;
        Assert.Equal((uint)job.Content.Length, BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(contentAt)));
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(contentAt), length);

        var before = GC.GetAllocatedBytesForCurrentThread();
        AssertCode(ErrorCode.Malformed, () => Frames.ReadOne(frame));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024 * 1024, "the lying length was trusted for an allocation");
        AssertMalformed(frame);
    }

    [Theory]
    [InlineData(0)] // stdout_tail
    [InlineData(1)] // stderr_tail
    [InlineData(2)] // out_file
    public void Job_result_bytes_length_that_lies_is_malformed(int which)
    {
        var result = (JobResult)DocVectors.Expected["job-result-timeout"]; // three empty byte arrays
        var frame = FrameCodec.ToArray(result);
        var firstAt = ProtocolConstants.HeaderSize + PayloadSize.Of(result.JobId) + 4 + 1 + 4 + 4;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(firstAt + (4 * which)), 0x7FFFFFFF);
        AssertMalformed(frame);
    }

    [Fact]
    public void Job_with_a_truncated_sha256_is_malformed()
    {
        var job = (Job)DocVectors.Expected["job"];
        var frame = FrameCodec.ToArray(job);
        var shaAt = ProtocolConstants.HeaderSize + PayloadSize.Of(job.JobId) + 4 + 8 + 4 + PayloadSize.Of(job.FileName);
        Assert.Equal(job.Sha256, frame.AsSpan(shaAt, 32).ToArray());

        // The payload ends inside the digest.
        AssertMalformed(Frames.Raw((byte)MessageType.Job, frame.AsSpan(ProtocolConstants.HeaderSize, shaAt + 31 - ProtocolConstants.HeaderSize).ToArray()));

        // A 31-byte digest followed by the rest: the fields after it are misread and run past the end.
        byte[] payload = [.. frame.AsSpan(ProtocolConstants.HeaderSize, shaAt + 31 - ProtocolConstants.HeaderSize), .. frame.AsSpan(shaAt + 32)];
        AssertMalformed(Frames.Raw((byte)MessageType.Job, payload));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(255)]
    public void Unknown_job_outcome_is_malformed(byte outcome)
    {
        var result = (JobResult)DocVectors.Expected["job-result"];
        var frame = FrameCodec.ToArray(result);
        var outcomeAt = ProtocolConstants.HeaderSize + PayloadSize.Of(result.JobId) + 4;
        Assert.Equal((byte)JobOutcome.Completed, frame[outcomeAt]);
        frame[outcomeAt] = outcome;
        var exception = AssertMalformed(frame);
        Assert.Contains("outcome", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>Job ids are the hub's business (like agent ids): the codec carries any string.</summary>
    [Fact]
    public void Job_id_outside_the_hub_rules_is_not_a_protocol_error()
    {
        foreach (var id in new[] { new string('j', 65), string.Empty, "a b/é", new string('x', 65_535) })
        {
            Message[] messages =
            [
                new Job(id, 1, 0, 0, "f", new byte[32], "", new byte[] { 1 }),
                new JobAccepted(id, 1),
                new JobBusy(id, 1, "r"),
                new JobResult(id, 1, JobOutcome.Cancelled, 0, 0, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, ""),
                new JobResultAck(id, 1),
                new JobCancel(id, 1, "r"),
            ];
            foreach (var message in messages)
            {
                var bytes = FrameCodec.ToArray(message);
                var decoded = Frames.ReadOne(bytes, maxFrameSize: bytes.Length);
                Assert.Equal(bytes, FrameCodec.ToArray(decoded));
            }
        }
    }

    [Fact]
    public void Decoded_job_bytes_do_not_alias_the_receive_buffer()
    {
        var frame = FrameCodec.ToArray(DocVectors.Expected["job"]);
        var job = (Job)Frames.ReadOne(frame);
        var resultFrame = FrameCodec.ToArray(DocVectors.Expected["job-result"]);
        var result = (JobResult)Frames.ReadOne(resultFrame);
        var content = job.Content.ToArray();
        var sha = job.Sha256.ToArray();
        Array.Fill(frame, (byte)0xEE);
        Array.Fill(resultFrame, (byte)0xEE);
        Assert.Equal(content, job.Content.ToArray());
        Assert.Equal(sha, job.Sha256);
        Assert.Equal("hi\n"u8.ToArray(), result.StdoutTail.ToArray());
    }

    /// <summary>Whatever the bytes, the reader either decodes, asks for more, or throws ProtocolException:
    /// never another exception. And whatever decodes re-encodes to the same bytes (one encoding per message).</summary>
    [Property(Arbitrary = [typeof(MessageGenerators)], MaxTest = 1000)]
    public void Garbage_decodes_needs_more_or_throws_ProtocolException(Garbage garbage, Cuts cuts)
    {
        var bytes = garbage.Bytes;
        var spanOutcome = Outcome(() =>
        {
            if (!FrameCodec.TryReadFrame(bytes, Max, out var type, out var payload, out var consumed))
            {
                return null;
            }

            var message = FrameCodec.Decode(type, payload);
            Assert.Equal(bytes.AsSpan(0, consumed).ToArray(), FrameCodec.ToArray(message));
            return message;
        });

        var sequenceOutcome = Outcome(() =>
        {
            var sequence = Segments.Split(bytes, cuts.Points);
            if (!FrameCodec.TryReadFrame(ref sequence, Max, out var type, out var payload))
            {
                return null;
            }

            return FrameCodec.Decode(type, payload);
        });

        // Both forms reach the same verdict.
        Assert.Equal(spanOutcome.Kind, sequenceOutcome.Kind);
        Assert.Equal(spanOutcome.Code, sequenceOutcome.Code);
    }

    private static (string Kind, ErrorCode? Code) Outcome(Func<Message?> read)
    {
        try
        {
            return read() is null ? ("need-more", null) : ("decoded", null);
        }
        catch (ProtocolException ex)
        {
            return ("protocol-error", ex.Code);
        }
    }

    /// <summary>A status frame with one field named "f" whose kind byte and value bytes are given.</summary>
    private static byte[] StatusWithOneField(byte kind, params byte[] value) => Frames.Raw(
        (byte)MessageType.Status,
        [0, 0, 0, 0, 0, 0, 0, 1, (byte)AgentState.Idle, ProtocolConstants.NoProgress, 0x00, 0x01, 0x00, 0x01, (byte)'f', kind, .. value]);

    private static ProtocolException AssertMalformed(byte[] frame)
    {
        var exception = AssertCode(ErrorCode.Malformed, () => Frames.ReadOne(frame));

        // The multi-segment decode path agrees.
        var sequence = Segments.Split(frame, [1, frame.Length / 2]);
        Assert.True(FrameCodec.TryReadFrame(ref sequence, Max, out var type, out var payload));
        AssertCode(ErrorCode.Malformed, () => FrameCodec.Decode(type, payload));
        return exception;
    }

    private static ProtocolException AssertCode<T>(ErrorCode code, Func<T> action)
    {
        var exception = Assert.Throws<ProtocolException>(() => action());
        Assert.Equal(code, exception.Code);
        return exception;
    }
}
