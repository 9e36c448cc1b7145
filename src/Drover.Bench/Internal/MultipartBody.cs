using System.Text;

namespace Drover.Bench.Internal;

/// <summary>A multipart/form-data body (RFC 7578) of file parts, written into one array that is reused from
/// request to request, so that a submitter allocates nothing per request once the array has grown to a
/// batch. Ownership: one submitter owns an instance; <see cref="Body"/> is valid until the next
/// <see cref="Reset"/>, so the request that sends it must have been answered first.</summary>
internal sealed class MultipartBody
{
    private static readonly byte[] Crlf = "\r\n"u8.ToArray();
    private readonly byte[] _delimiter;
    private readonly byte[] _closeDelimiter;
    private byte[] _buffer;
    private int _length;

    public MultipartBody(string boundary, int initialCapacity = 64 * 1024)
    {
        if (boundary.Length is < 1 or > 70 || boundary.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.')))
        {
            throw new ArgumentException($"'{boundary}' is not a boundary this writer uses (1-70 of [A-Za-z0-9._-])", nameof(boundary));
        }

        Boundary = boundary;
        ContentType = $"multipart/form-data; boundary={boundary}";
        _delimiter = Encoding.ASCII.GetBytes("--" + boundary + "\r\n");
        _closeDelimiter = Encoding.ASCII.GetBytes("--" + boundary + "--\r\n");
        _buffer = new byte[Math.Max(256, initialCapacity)];
    }

    public string Boundary { get; }

    /// <summary>The request's Content-Type header value.</summary>
    public string ContentType { get; }

    public int Parts { get; private set; }

    public bool Completed { get; private set; }

    public ReadOnlyMemory<byte> Body => _buffer.AsMemory(0, _length);

    /// <summary>The array behind <see cref="Body"/> (for content types that take an array and a length).</summary>
    public byte[] Buffer => _buffer;

    public int Length => _length;

    public void Reset()
    {
        _length = 0;
        Parts = 0;
        Completed = false;
    }

    /// <summary>Appends one file part named <paramref name="fileName"/> and returns the <paramref name="size"/> bytes
    /// reserved for its content, for the caller to fill before the next call. File names are limited to
    /// [A-Za-z0-9._-] so that they need no quoting rules beyond the quotes.</summary>
    public Span<byte> AddFile(string fileName, int size)
    {
        if (Completed)
        {
            throw new InvalidOperationException("the body is complete; Reset() it first");
        }

        if (fileName.Length is < 1 or > 200 || fileName.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.')))
        {
            throw new ArgumentException($"'{fileName}' is not a bench file name (1-200 of [A-Za-z0-9._-])", nameof(fileName));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var header = $"Content-Disposition: form-data; name=\"file\"; filename=\"{fileName}\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        Ensure(_delimiter.Length + header.Length + size + Crlf.Length);
        Append(_delimiter);
        _length += Encoding.ASCII.GetBytes(header, _buffer.AsSpan(_length));
        var content = _buffer.AsSpan(_length, size);
        _length += size;
        Append(Crlf);
        Parts++;
        return content;
    }

    /// <summary>Writes the close delimiter; the body is then ready to send.</summary>
    public void Complete()
    {
        if (Parts == 0)
        {
            throw new InvalidOperationException("a multipart body needs at least one part");
        }

        if (!Completed)
        {
            Ensure(_closeDelimiter.Length);
            Append(_closeDelimiter);
            Completed = true;
        }
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    private void Ensure(int more)
    {
        var needed = (long)_length + more;
        if (needed <= _buffer.Length)
        {
            return;
        }

        if (needed > Array.MaxLength)
        {
            throw new InvalidOperationException($"a multipart body of {needed:N0} bytes is too large for one array");
        }

        var grown = new byte[(int)Math.Min(Array.MaxLength, Math.Max(needed, (long)_buffer.Length * 2))];
        _buffer.AsSpan(0, _length).CopyTo(grown);
        _buffer = grown;
    }
}
