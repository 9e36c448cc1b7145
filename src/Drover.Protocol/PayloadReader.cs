using System.Buffers.Binary;
using System.Text;

namespace Drover.Protocol;

/// <summary>Reads protocol primitives from one frame's payload. Running past the end, or invalid
/// UTF-8, throws <see cref="ProtocolException"/> with <see cref="ErrorCode.Malformed"/>.</summary>
public ref struct PayloadReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public PayloadReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public readonly int Remaining => _buffer.Length - _position;

    public byte ReadU8()
    {
        Require(1);
        return _buffer[_position++];
    }

    public ushort ReadU16()
    {
        Require(2);
        var value = BinaryPrimitives.ReadUInt16BigEndian(_buffer[_position..]);
        _position += 2;
        return value;
    }

    public uint ReadU32()
    {
        Require(4);
        var value = BinaryPrimitives.ReadUInt32BigEndian(_buffer[_position..]);
        _position += 4;
        return value;
    }

    public int ReadI32()
    {
        Require(4);
        var value = BinaryPrimitives.ReadInt32BigEndian(_buffer[_position..]);
        _position += 4;
        return value;
    }

    public ulong ReadU64()
    {
        Require(8);
        var value = BinaryPrimitives.ReadUInt64BigEndian(_buffer[_position..]);
        _position += 8;
        return value;
    }

    public long ReadI64()
    {
        Require(8);
        var value = BinaryPrimitives.ReadInt64BigEndian(_buffer[_position..]);
        _position += 8;
        return value;
    }

    public double ReadF64()
    {
        Require(8);
        var value = BinaryPrimitives.ReadDoubleBigEndian(_buffer[_position..]);
        _position += 8;
        return value;
    }

    public string ReadString()
    {
        var length = ReadU16();
        Require(length);
        string value;
        try
        {
            value = StrictUtf8.GetString(_buffer.Slice(_position, length));
        }
        catch (DecoderFallbackException ex)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"invalid UTF-8 in a string at offset {_position}: {ex.Message}");
        }

        _position += length;
        return value;
    }

    /// <summary>Reads a u32 byte count and that many bytes into a new array (a copy: it never aliases the
    /// receive buffer). The count is checked against the bytes that remain before anything is allocated.</summary>
    public byte[] ReadBytes()
    {
        var length = ReadU32();
        if (length > (uint)Remaining)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"byte array of {length} bytes at offset {_position} runs past the payload ({Remaining} bytes remain)");
        }

        return ReadRaw((int)length);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (no length prefix) into a new array.</summary>
    public byte[] ReadRaw(int count)
    {
        Require(count);
        var value = _buffer.Slice(_position, count).ToArray();
        _position += count;
        return value;
    }

    /// <summary>Checks a string (length in range, valid UTF-8) and moves past it without allocating.</summary>
    public void SkipString()
    {
        var length = ReadU16();
        Require(length);
        if (!System.Text.Unicode.Utf8.IsValid(_buffer.Slice(_position, length)))
        {
            throw new ProtocolException(ErrorCode.Malformed, $"invalid UTF-8 in a string at offset {_position}");
        }

        _position += length;
    }

    /// <summary>Moves past <paramref name="count"/> bytes (they must be there).</summary>
    public void Skip(int count)
    {
        Require(count);
        _position += count;
    }

    public Dictionary<string, string> ReadMap()
    {
        var count = ReadU16();
        var map = new Dictionary<string, string>(Math.Min((int)count, 64), StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = ReadString();
            var value = ReadString();
            if (!map.TryAdd(key, value))
            {
                throw new ProtocolException(ErrorCode.Malformed, $"duplicate key '{key}' in a map");
            }
        }

        return map;
    }

    public string[] ReadList()
    {
        var count = ReadU16();
        if (count == 0)
        {
            return [];
        }

        // Each string takes at least its 2-byte length, so a lying count fails before it allocates.
        Require(count * 2);
        var list = new string[count];
        for (var i = 0; i < count; i++)
        {
            list[i] = ReadString();
        }

        return list;
    }

    /// <summary>Called after a message is read: trailing bytes are a protocol error.</summary>
    public readonly void EnsureEnd(MessageType type)
    {
        if (_position != _buffer.Length)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"{type} payload has {_buffer.Length - _position} unexpected trailing bytes");
        }
    }

    private readonly void Require(int count)
    {
        if (_buffer.Length - _position < count)
        {
            throw new ProtocolException(ErrorCode.Malformed, $"payload ends at offset {_buffer.Length} but {count} more bytes were expected at offset {_position}");
        }
    }
}
