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

    private static void AssertNotEncodable(Message message)
    {
        var exception = Assert.Throws<ProtocolException>(() => FrameCodec.ToArray(message));
        Assert.Equal(ErrorCode.Malformed, exception.Code);

        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ProtocolException>(() => FrameCodec.Write(message, output));
        Assert.Equal(0, output.WrittenCount);
    }
}
