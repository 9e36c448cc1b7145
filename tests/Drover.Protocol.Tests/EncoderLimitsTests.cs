using System.Buffers;

namespace Drover.Protocol.Tests;

/// <summary>A message that cannot be encoded (a u16 count or length overflows) throws
/// <see cref="ProtocolException"/> in the sizing pass, before any byte is written.</summary>
public sealed class EncoderLimitsTests
{
    [Fact]
    public void List_of_65536_items_cannot_be_encoded()
    {
        AssertNotEncodable(new Redirect(Enumerable.Repeat(string.Empty, 65_536).ToArray(), "r"));
    }

    [Fact]
    public void List_of_65535_items_round_trips()
    {
        var message = new Redirect(Enumerable.Repeat(string.Empty, 65_535).ToArray(), "r");
        var bytes = FrameCodec.ToArray(message);
        var decoded = (Redirect)Frames.ReadOne(bytes, maxFrameSize: bytes.Length);
        Assert.Equal(65_535, decoded.Hubs.Count);
    }

    [Fact]
    public void Map_of_65536_entries_cannot_be_encoded()
    {
        var labels = Enumerable.Range(0, 65_536).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => string.Empty);
        AssertNotEncodable(new Hello(1, 1, "a", string.Empty, string.Empty, labels, [], 0));
    }

    [Fact]
    public void Status_with_65536_fields_cannot_be_encoded()
    {
        var fields = Enumerable.Repeat(new KeyValuePair<string, FieldValue>("f", FieldValue.Null), 65_536).ToArray();
        AssertNotEncodable(new Status(1, AgentState.Idle, 0, fields));
    }

    [Fact]
    public void String_of_65536_bytes_cannot_be_encoded()
    {
        AssertNotEncodable(new Bye(ErrorCode.None, new string('x', 65_536)));
        AssertNotEncodable(new Bye(ErrorCode.None, new string('é', 32_768))); // bytes, not characters
        Assert.Equal(5 + 2 + 2 + 65_535, FrameCodec.ToArray(new Bye(ErrorCode.None, new string('x', 65_535))).Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    public void Job_whose_sha256_is_not_32_bytes_cannot_be_encoded(int length)
    {
        AssertNotEncodable(new Job("j", 1, 0, 0, "f", new byte[length], "", ReadOnlyMemory<byte>.Empty));
    }

    [Fact]
    public void Job_of_the_job_frame_size_round_trips()
    {
        // A 16 MiB file inline fits the job frame cap with room for the metadata.
        var content = new byte[16 * 1024 * 1024];
        content[^1] = 7;
        var message = new Job(new string('j', 64), 1, 0, 0, new string('f', 255), new byte[32], new string('a', 4096), content);
        var bytes = FrameCodec.ToArray(message);
        Assert.True(bytes.Length - ProtocolConstants.HeaderSize <= ProtocolConstants.MaxJobFrameSize);
        var decoded = (Job)Frames.ReadOne(bytes, ProtocolConstants.MaxJobFrameSize);
        Assert.Equal(content.Length, decoded.Content.Length);
        Assert.Equal(7, decoded.Content.Span[^1]);
    }

    private static void AssertNotEncodable(Message message)
    {
        var exception = Assert.Throws<ProtocolException>(() => FrameCodec.ToArray(message));
        Assert.Equal(ErrorCode.Malformed, exception.Code);

        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ProtocolException>(() => FrameCodec.Write(message, output));
        Assert.Equal(0, output.WrittenCount);
    }
}
