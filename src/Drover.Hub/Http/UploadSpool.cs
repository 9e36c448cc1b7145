using System.Buffers;
using System.Security.Cryptography;

namespace Drover.Hub.Http;

/// <summary>One uploaded file as read: its length and SHA-256, and its bytes either in <see cref="Content"/> (a small
/// file) or in the spool file <see cref="Path"/> (owned by the <see cref="UploadSpool"/> that made it).</summary>
internal readonly record struct SpooledFile(long Length, byte[] Sha256, byte[]? Content, string? Path);

/// <summary>The files of one request to <c>POST /api/jobs</c>, read as they arrive: a file of at most
/// <see cref="InMemoryMax"/> bytes stays in memory while the request's in-memory files total at most
/// <see cref="MemoryBudget"/>; any other file streams, <see cref="ChunkSize"/> bytes at a time, into a file of its own in
/// the upload directory, hashed on the way. So a request holds at most <see cref="MemoryBudget"/> plus one chunk in
/// memory however many files it carries, and the store later copies the spooled files in chunks too
/// (<see cref="Storage.JobRecord.ContentFile"/>). A file over the limit stops the reading at once (at most the limit plus
/// one chunk is read), and its spool file is deleted there and then.</summary>
/// <remarks>Ownership: the chunk buffer is rented from <see cref="ArrayPool{T}.Shared"/> by this object and returned by
/// <see cref="Dispose"/>; nothing else holds it (in-memory files are copied out). The spool files are this object's:
/// <see cref="Dispose"/> deletes every one it made, so a request that ends in any way (committed, refused, over a limit,
/// aborted by the client mid-body) leaves none behind. Dispose it only after the store has copied the files, that is
/// after the submission has returned.</remarks>
internal sealed class UploadSpool : IDisposable
{
    /// <summary>The largest file kept in memory rather than spooled to disk.</summary>
    public const int InMemoryMax = 64 * 1024;

    /// <summary>The most bytes of one request's files kept in memory; the files after that are spooled whatever their size.</summary>
    public const int MemoryBudget = 1024 * 1024;

    /// <summary>How much is read before it is hashed and written to a spool file.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>The spool files' extension: what a start deletes as left over (<see cref="UploadDirectory"/>).</summary>
    public const string Extension = ".upload";

    private readonly string _directory;
    private readonly int _limit;
    private readonly List<string> _files = [];
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(InMemoryMax, ChunkSize) + 1);
    private long _inMemory;

    /// <summary>A spool for files of at most <paramref name="limit"/> bytes, spilling into <paramref name="directory"/>.</summary>
    public UploadSpool(string directory, int limit)
    {
        _directory = directory;
        _limit = limit;
    }

    /// <summary>Reads <paramref name="source"/> to its end as one file. Returns null as soon as it is over the limit.
    /// Read errors (the client went away) propagate; the spool file of this file is then deleted by <see cref="Dispose"/>.</summary>
    public async Task<SpooledFile?> ReadAsync(Stream source, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);

        // The head of the file: all of a small one. One byte more than may stay in memory tells whether it ended.
        var headRoom = Math.Min(InMemoryMax, _limit) + 1;
        var head = await FillAsync(source, _buffer.AsMemory(0, headRoom), cancellationToken).ConfigureAwait(false);
        if (head > _limit)
        {
            return null;
        }

        if (head < headRoom && _inMemory + head <= MemoryBudget)
        {
            _inMemory += head;
            var content = _buffer.AsSpan(0, head).ToArray();
            return new SpooledFile(head, SHA256.HashData(content), content, null);
        }

        return await SpillAsync(source, head, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every spool file this request made and returns the buffer.</summary>
    public void Dispose()
    {
        foreach (var path in _files)
        {
            TryDelete(path);
        }

        _files.Clear();
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>Writes the <paramref name="head"/> bytes already read and the rest of <paramref name="source"/> to a new
    /// spool file, hashing them. Null (and the file deleted) as soon as the file is over the limit.</summary>
    private async Task<SpooledFile?> SpillAsync(Stream source, int head, CancellationToken cancellationToken)
    {
        var path = System.IO.Path.Combine(_directory, Guid.NewGuid().ToString("N") + Extension);
        _files.Add(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length = head;
        var file = Spool(path, () => new FileStream(path, options));
        await using (file.ConfigureAwait(false))
        {
            var count = head;
            while (count > 0)
            {
                hash.AppendData(_buffer, 0, count);
                try
                {
                    await file.WriteAsync(_buffer.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw SpoolFailed(path, ex);
                }

                // Reading the body: its errors (the client went away) are the caller's, not the spool's.
                count = await FillAsync(source, _buffer.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false);
                length += count;
                if (length > _limit)
                {
                    break;
                }
            }
        }

        if (length > _limit)
        {
            TryDelete(path);
            _files.Remove(path);
            return null;
        }

        return new SpooledFile(length, hash.GetHashAndReset(), null, path);
    }

    private static FileStream Spool(string path, Func<FileStream> open)
    {
        try
        {
            return open();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw SpoolFailed(path, ex);
        }
    }

    /// <summary>ENOSPC (28 on Linux and macOS), or Windows' ERROR_HANDLE_DISK_FULL / ERROR_DISK_FULL.</summary>
    private static UploadSpoolException SpoolFailed(string path, Exception ex) =>
        new($"cannot spool the upload to {path}: {ex.Message}", ex) { IsFull = ex.HResult is 28 or unchecked((int)0x80070027) or unchecked((int)0x80070070) };

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends (a multipart section gives a few KiB
    /// per read); returns how much was read.</summary>
    private static async ValueTask<int> FillAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var count = 0;
        while (count < buffer.Length)
        {
            var read = await source.ReadAsync(buffer[count..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            count += read;
        }

        return count;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the next start's clean-up (UploadDirectory.Prepare).
        }
    }
}

/// <summary>A spool file could not be created or written (the request's files were not accepted).</summary>
internal sealed class UploadSpoolException(string message, Exception innerException) : Exception(message, innerException)
{
    /// <summary>The disk has no room left: the API answers 507, as for a full store.</summary>
    public bool IsFull { get; init; }
}
