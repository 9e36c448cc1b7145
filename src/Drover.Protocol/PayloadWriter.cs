using System.Buffers.Binary;
using System.Text;

namespace Drover.Protocol;

/// <summary>Writes protocol primitives (big-endian integers, u16-length UTF-8 strings) into a span
/// whose size the caller computed beforehand with <see cref="PayloadSize"/>.</summary>
public ref struct PayloadWriter
{
    private readonly Span<byte> _buffer;
    private int _position;

    public PayloadWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public readonly int Position => _position;

    public void WriteU8(byte value) => _buffer[_position++] = value;

    public void WriteU16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_position..], value);
        _position += 2;
    }

    public void WriteU32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[_position..], value);
        _position += 4;
    }

    public void WriteI32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer[_position..], value);
        _position += 4;
    }

    public void WriteU64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer[_position..], value);
        _position += 8;
    }

    public void WriteI64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_buffer[_position..], value);
        _position += 8;
    }

    public void WriteF64(double value)
    {
        BinaryPrimitives.WriteDoubleBigEndian(_buffer[_position..], value);
        _position += 8;
    }

    /// <summary>Writes a u16 byte length followed by the UTF-8 bytes.</summary>
    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetBytes(value, _buffer[(_position + 2)..]);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_position..], checked((ushort)length));
        _position += 2 + length;
    }

    /// <summary>Writes a u32 byte count followed by the bytes.</summary>
    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteU32((uint)value.Length);
        WriteRaw(value);
    }

    /// <summary>Writes the bytes as they are, with no length prefix (fixed-size fields such as a SHA-256).</summary>
    public void WriteRaw(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_buffer[_position..]);
        _position += value.Length;
    }

    /// <summary>Writes a u16 entry count followed by key and value strings.</summary>
    public void WriteMap(IReadOnlyDictionary<string, string> map)
    {
        WriteU16(checked((ushort)map.Count));
        foreach (var (key, value) in map)
        {
            WriteString(key);
            WriteString(value);
        }
    }

    /// <summary>Writes a u16 item count followed by the strings.</summary>
    public void WriteList(IReadOnlyList<string> list)
    {
        WriteU16(checked((ushort)list.Count));
        foreach (var item in list)
        {
            WriteString(item);
        }
    }
}

/// <summary>Sizes of protocol primitives, used to size a frame before it is written.</summary>
public static class PayloadSize
{
    /// <summary>The encoded size of a string; throws if it exceeds the u16 length limit.</summary>
    public static int Of(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > ushort.MaxValue)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"string of {bytes} bytes exceeds the 65535-byte limit");
        }

        return 2 + bytes;
    }

    /// <summary>The encoded size of a byte array of <paramref name="length"/> bytes: a u32 length, then the bytes.</summary>
    public static int OfBytes(int length)
    {
        if (length > int.MaxValue - 4)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"byte array of {length} bytes is too large to encode");
        }

        return 4 + length;
    }

    public static int Of(IReadOnlyDictionary<string, string> map)
    {
        CheckCount(map.Count, "map");
        var size = 2;
        foreach (var (key, value) in map)
        {
            size += Of(key) + Of(value);
        }

        return size;
    }

    public static int Of(IReadOnlyList<string> list)
    {
        CheckCount(list.Count, "list");
        var size = 2;
        foreach (var item in list)
        {
            size += Of(item);
        }

        return size;
    }

    /// <summary>Counts are u16 on the wire: checked here, in the sizing pass, so that a message that cannot
    /// be encoded throws <see cref="ProtocolException"/> before any byte is written (not an
    /// OverflowException halfway through the frame).</summary>
    internal static void CheckCount(int count, string what)
    {
        if (count > ushort.MaxValue)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"{what} of {count} entries exceeds the 65535-entry limit");
        }
    }
}
