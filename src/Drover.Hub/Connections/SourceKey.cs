using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Drover.Hub.Connections;

/// <summary>The source a connection is counted under by the per-source limits: an IPv4 address (an IPv4-mapped IPv6
/// address counts as its IPv4 address), or the /64 prefix of an IPv6 address, since one host, or one customer, is
/// usually given a whole /64 and could otherwise take a fresh address for every connection. Sixteen bytes, no
/// allocation.</summary>
internal readonly record struct SourceKey(ulong High, ulong Low)
{
    /// <summary>The low half of an IPv4 source: the IPv4-mapped form, ::ffff:a.b.c.d.</summary>
    private const ulong MappedIPv4 = 0x0000_FFFF_0000_0000;

    public bool IsIPv4 => High == 0 && (Low & 0xFFFF_FFFF_0000_0000) == MappedIPv4;

    public static SourceKey From(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork || address.IsIPv4MappedToIPv6)
        {
            Span<byte> v4 = stackalloc byte[4];
            (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).TryWriteBytes(v4, out _);
            return new SourceKey(0, MappedIPv4 | BinaryPrimitives.ReadUInt32BigEndian(v4));
        }

        // Low = 1 marks an IPv6 /64, so that no source is the default key (logs count untracked sources under it).
        Span<byte> v6 = stackalloc byte[16];
        address.TryWriteBytes(v6, out _);
        return new SourceKey(BinaryPrimitives.ReadUInt64BigEndian(v6), 1);
    }

    /// <summary>"10.0.0.7", or "2001:db8:1:2::/64".</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[16];
        if (IsIPv4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)Low);
            return new IPAddress(bytes[..4]).ToString();
        }

        BinaryPrimitives.WriteUInt64BigEndian(bytes, High);
        return string.Create(CultureInfo.InvariantCulture, $"{new IPAddress(bytes)}/64");
    }
}
