using FsCheck.Xunit;

namespace Drover.Protocol.Tests;

/// <summary>The hub validates status payloads without decoding them; the validator must accept and
/// refuse exactly what the decoder does.</summary>
public class StatusValidateTests
{
    [Property(MaxTest = 1000)]
    public void Validate_agrees_with_decode_on_any_bytes(byte[] bytes)
    {
        var decodeError = Catch(() => FrameCodec.Decode(MessageType.Status, bytes));
        var validateError = Catch(() => Status.Validate(bytes, int.MaxValue));
        Assert.Equal(decodeError is null, validateError is null);
        if (decodeError is not null)
        {
            Assert.Equal(decodeError.Code, validateError!.Code);
        }
    }

    /// <summary>Random bytes rarely get past the first fields, so also: a status with every field
    /// kind, every byte changed to a few telling values, and every truncation.</summary>
    [Fact]
    public void Validate_agrees_with_decode_on_every_single_byte_mutation_and_truncation()
    {
        var status = new Status(7, AgentState.Busy, 42,
        [
            new("load1", FieldValue.From(0.5)), new("jobs", FieldValue.From(3L)), new("ok", FieldValue.From(true)),
            new("note", FieldValue.From("hé")), new("gone", FieldValue.Null),
        ]);
        var original = FrameCodec.ToArray(status).AsSpan(ProtocolConstants.HeaderSize).ToArray();
        var cases = 0;
        for (var position = 0; position < original.Length; position++)
        {
            foreach (var value in new byte[] { 0x00, 0x01, 0x02, 0x04, 0x05, 0x64, 0x65, 0x7F, 0x80, 0xC3, 0xFF })
            {
                var mutated = (byte[])original.Clone();
                mutated[position] = value;
                Validate_agrees_with_decode_on_any_bytes(mutated);
                cases++;
            }
        }

        for (var length = 0; length < original.Length; length++)
        {
            Validate_agrees_with_decode_on_any_bytes(original[..length]);
        }

        Assert.True(cases > 500);
    }

    [Fact]
    public void Validate_returns_the_sequence_of_a_valid_status_and_enforces_the_field_cap()
    {
        var status = new Status(99, AgentState.Busy, 50, [new("a", FieldValue.From(1L)), new("b", FieldValue.From("x")), new("c", FieldValue.Null)]);
        var payload = FrameCodec.ToArray(status).AsSpan(ProtocolConstants.HeaderSize).ToArray();
        Assert.Equal(99ul, Status.Validate(payload, 3));
        var error = Assert.Throws<ProtocolException>(() => Status.Validate(payload, 2));
        Assert.Equal(ErrorCode.InvalidStatus, error.Code);
    }

    [Fact]
    public void Validate_refuses_invalid_utf8_in_a_field_value()
    {
        var payload = FrameCodec.ToArray(new Status(1, AgentState.Idle, 255, [new("k", FieldValue.From("ab"))])).AsSpan(ProtocolConstants.HeaderSize).ToArray();
        payload[^1] = 0xFF;
        Assert.Equal(ErrorCode.Malformed, Assert.Throws<ProtocolException>(() => Status.Validate(payload, 64)).Code);
    }

    private static ProtocolException? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (ProtocolException ex)
        {
            return ex;
        }
    }
}
