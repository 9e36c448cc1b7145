using System.Buffers;
using System.Security.Cryptography;

namespace Drover.Hub.Jobs;

/// <summary>Makes job ids: "j-" followed by 26 characters of Crockford base32 (0-9, A-Z without I, L, O, U)
/// encoding 128 bits, ULID-like: 48 bits of unix milliseconds, then 80 bits that start random in each new
/// millisecond and count up within it. Ids from one generator are strictly increasing (ordinal order is
/// submission order), also when the clock stands still or steps back (the last millisecond is kept until
/// the clock passes it). Thread-safe.</summary>
internal sealed class JobIds
{
    /// <summary>Length of an id: "j-" and 26 characters.</summary>
    public const int Length = 28;

    public const string Prefix = "j-";

    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private const ulong HighMask = 0xFFFF;
    private const long MaxMilliseconds = (1L << 48) - 1;
    private static readonly SearchValues<char> AlphabetValues = SearchValues.Create(Alphabet);

    private readonly Lock _lock = new();
    private long _lastMs = -1;

    // The 80-bit part: _high holds its top 16 bits, _low the other 64.
    private ulong _high;
    private ulong _low;

    /// <summary>The next id for a submission at <paramref name="now"/>.</summary>
    public string Next(DateTimeOffset now)
    {
        var ms = Math.Clamp(now.ToUnixTimeMilliseconds(), 0, MaxMilliseconds);
        long stamp;
        ulong high, low;
        lock (_lock)
        {
            if (ms > _lastMs)
            {
                // A new millisecond: fresh random bits with the top one clear, so that counting up
                // within this millisecond has 2^79 steps of room.
                Span<byte> random = stackalloc byte[10];
                RandomNumberGenerator.Fill(random);
                _high = ((ulong)random[0] << 8 | random[1]) & 0x7FFF;
                _low = BitConverter.ToUInt64(random[2..]);
                _lastMs = ms;
            }
            else if (++_low == 0 && (_high = (_high + 1) & HighMask) == 0)
            {
                // 2^80 ids in one millisecond (never in practice): borrow the next millisecond.
                _lastMs++;
            }

            stamp = _lastMs;
            high = _high;
            low = _low;
        }

        return Encode(stamp, high, low);
    }

    /// <summary>True for text shaped like an id this class makes ("j-" and 26 base32 characters, upper case,
    /// the first at most '7').</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> id) =>
        id.Length == Length && id.StartsWith(Prefix, StringComparison.Ordinal) && id[2] <= '7' && !id[2..].ContainsAnyExcept(AlphabetValues);

    /// <summary>The unix milliseconds an id was made at (for a well-formed id).</summary>
    public static long TimestampOf(string id)
    {
        long ms = 0;
        for (var i = 0; i < 10; i++)
        {
            ms = (ms << 5) | (long)Alphabet.IndexOf(id[2 + i], StringComparison.Ordinal);
        }

        // The first 10 characters are 50 bits: 2 bits of padding (always 0) and the 48-bit timestamp.
        return ms;
    }

    private static string Encode(long ms, ulong high, ulong low) => string.Create(Length, (ms, high, low), static (chars, state) =>
    {
        // 128 bits = ms(48) | high(16) | low(64), written as 26 characters of 5 bits from the top; the first
        // character carries the top 3 bits (26 * 5 = 130).
        var top = ((ulong)state.ms << 16) | state.high; // the top 64 bits
        var bottom = state.low;                         // the bottom 64 bits
        chars[0] = 'j';
        chars[1] = '-';
        for (var i = 25; i >= 0; i--)
        {
            chars[2 + i] = Alphabet[(int)(bottom & 0x1F)];
            bottom = (bottom >> 5) | (top << 59);
            top >>= 5;
        }
    });
}
