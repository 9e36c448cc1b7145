namespace Drover.Agent.Internal.Jobs;

/// <summary>Keeps the last <c>capacity</c> bytes written to it (a ring). Not thread-safe: one writer, read after it finished.</summary>
internal sealed class TailBuffer
{
    private readonly byte[] _ring;
    private long _total;

    public TailBuffer(int capacity) => _ring = new byte[capacity];

    /// <summary>All bytes ever written (kept or not).</summary>
    public long TotalBytes => _total;

    public void Write(ReadOnlySpan<byte> data)
    {
        var capacity = _ring.Length;
        if (capacity == 0)
        {
            _total += data.Length;
            return;
        }

        if (data.Length >= capacity)
        {
            // Only the last `capacity` bytes survive; global byte k lives at ring[k % capacity].
            var last = data[^capacity..];
            _total += data.Length;
            var start = (int)(_total % capacity);
            last[..(capacity - start)].CopyTo(_ring.AsSpan(start));
            last[(capacity - start)..].CopyTo(_ring);
            return;
        }

        var position = (int)(_total % capacity);
        var first = Math.Min(data.Length, capacity - position);
        data[..first].CopyTo(_ring.AsSpan(position));
        data[first..].CopyTo(_ring);
        _total += data.Length;
    }

    /// <summary>The kept bytes, oldest first.</summary>
    public byte[] ToArray()
    {
        var capacity = _ring.Length;
        if (capacity == 0)
        {
            return [];
        }

        if (_total <= capacity)
        {
            return _ring.AsSpan(0, (int)_total).ToArray();
        }

        var start = (int)(_total % capacity);
        var result = new byte[capacity];
        _ring.AsSpan(start).CopyTo(result);
        _ring.AsSpan(0, start).CopyTo(result.AsSpan(capacity - start));
        return result;
    }
}
