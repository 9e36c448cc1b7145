using System.Buffers;

namespace Drover.Hub.Http;

/// <summary>The scratch buffer of one request: each file is read into it, within the limit, then copied
/// out at its exact size. Ownership: the buffer is rented from <see cref="ArrayPool{T}.Shared"/> by this
/// object, replaced (the old one returned) when it grows, and returned by <see cref="Dispose"/>; nothing
/// else holds it (<see cref="ToArray"/> copies). It never grows beyond the limit + 1 byte.</summary>
internal sealed class UploadBuffer(int limit) : IDisposable
{
    private const int InitialSize = 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, InitialSize));

    /// <summary>Reads <paramref name="source"/> to its end. Returns the byte count, or -1 as soon as it
    /// is over the limit (having read at most limit + 1 bytes).</summary>
    public async Task<int> ReadAsync(Stream source, CancellationToken cancellationToken)
    {
        var count = 0;
        while (true)
        {
            if (count == _buffer.Length)
            {
                Grow(count);
            }

            var room = Math.Min(_buffer.Length, limit + 1) - count;
            var read = await source.ReadAsync(_buffer.AsMemory(count, room), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return count;
            }

            count += read;
            if (count > limit)
            {
                return -1;
            }
        }
    }

    public byte[] ToArray(int count) => _buffer.AsSpan(0, count).ToArray();

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private void Grow(int count)
    {
        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)_buffer.Length * 2, limit + 1L));
        _buffer.AsSpan(0, count).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
