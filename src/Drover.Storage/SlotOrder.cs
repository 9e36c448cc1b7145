namespace Drover.Storage;

/// <summary>The order in which agents report within an interval. An agent's slot offset is the van der Corput fraction of its
/// slot ordinal (the ordinal's bits reversed: 0, 1/2, 1/4, 3/4, 1/8, …) times the interval, so ordering agents by their
/// reversed ordinal orders them by the moment they report, whatever the interval. The hub's schedule uses it for the
/// offsets; a store uses it to keep the rows of agents that report together next to each other.</summary>
public static class SlotOrder
{
    /// <summary>The 64 bits of <paramref name="ordinal"/> in reverse order: the van der Corput fraction times 2^64.</summary>
    public static ulong ReverseBits(ulong ordinal)
    {
        var x = ordinal;
        x = ((x >> 1) & 0x5555555555555555UL) | ((x & 0x5555555555555555UL) << 1);
        x = ((x >> 2) & 0x3333333333333333UL) | ((x & 0x3333333333333333UL) << 2);
        x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((x & 0x0F0F0F0F0F0F0F0FUL) << 4);
        x = ((x >> 8) & 0x00FF00FF00FF00FFUL) | ((x & 0x00FF00FF00FF00FFUL) << 8);
        x = ((x >> 16) & 0x0000FFFF0000FFFFUL) | ((x & 0x0000FFFF0000FFFFUL) << 16);
        return (x >> 32) | (x << 32);
    }

    /// <summary>A non-negative key that sorts agents by their report moment: the reversed ordinal, halved to fit a signed
    /// 64-bit integer. Distinct ordinals below 2^63 have distinct keys.</summary>
    public static long Key(long ordinal) => (long)(ReverseBits((ulong)ordinal) >> 1);
}
