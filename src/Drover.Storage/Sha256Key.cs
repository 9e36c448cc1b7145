using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Drover.Storage;

/// <summary>A SHA-256 as a dictionary key (two 128-bit halves; equal hashes, equal keys), for finding a file by its hash.</summary>
public readonly record struct Sha256Key(UInt128 Head, UInt128 Tail)
{
    /// <summary>The key of <paramref name="sha256"/>, which must be 32 bytes.</summary>
    public static Sha256Key Of(ReadOnlySpan<byte> sha256)
    {
        if (sha256.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException($"A SHA-256 is {SHA256.HashSizeInBytes} bytes, not {sha256.Length}.", nameof(sha256));
        }

        return new(BinaryPrimitives.ReadUInt128LittleEndian(sha256), BinaryPrimitives.ReadUInt128LittleEndian(sha256[16..]));
    }
}
