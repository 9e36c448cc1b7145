using System.Security.Cryptography;
using Drover.Hub.Http;

namespace Drover.Hub.Tests;

/// <summary>The request's upload spool on its own (no sockets): which files stay in memory, which stream to a spool
/// file, and that nothing outlives the spool or an over-limit file.</summary>
public sealed class UploadSpoolTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drover-spool-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Bytes(int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A stream that gives at most 1,000 bytes per read, as a multipart section gives a few KiB.</summary>
    private sealed class Trickle(byte[] bytes) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, 1000)], cancellationToken);
    }

    private string[] SpoolFiles => Directory.GetFiles(_directory);

    [Fact]
    public async Task A_small_file_stays_in_memory_and_a_large_one_streams_to_a_spool_file_with_the_same_hash()
    {
        using var spool = new UploadSpool(_directory, 1024 * 1024);
        var small = Bytes(UploadSpool.InMemoryMax);
        var large = Bytes(UploadSpool.InMemoryMax + 1 + (3 * UploadSpool.ChunkSize));

        var inMemory = Assert.NotNull(await spool.ReadAsync(new Trickle(small), CancellationToken.None));
        Assert.Null(inMemory.Path);
        Assert.Equal(small, inMemory.Content);
        Assert.Equal(SHA256.HashData(small), inMemory.Sha256);
        Assert.Empty(SpoolFiles);

        var spooled = Assert.NotNull(await spool.ReadAsync(new Trickle(large), CancellationToken.None));
        Assert.Null(spooled.Content);
        Assert.Equal(large.Length, spooled.Length);
        Assert.Equal(SHA256.HashData(large), spooled.Sha256);
        Assert.Equal(large, await File.ReadAllBytesAsync(spooled.Path!));
        Assert.Equal(UploadSpool.Extension, Path.GetExtension(spooled.Path));
        Assert.Equal(_directory, Path.GetDirectoryName(spooled.Path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(spooled.Path!));
        }

        spool.Dispose();
        Assert.Empty(SpoolFiles);
    }

    [Fact]
    public async Task Past_the_request_memory_budget_even_small_files_are_spooled()
    {
        using var spool = new UploadSpool(_directory, 1024 * 1024);
        var small = Bytes(UploadSpool.InMemoryMax);
        for (var held = 0; held + small.Length <= UploadSpool.MemoryBudget; held += small.Length)
        {
            Assert.NotNull(Assert.NotNull(await spool.ReadAsync(new MemoryStream(small), CancellationToken.None)).Content);
        }

        var next = Assert.NotNull(await spool.ReadAsync(new MemoryStream([1, 2, 3]), CancellationToken.None));
        Assert.Null(next.Content);
        Assert.Equal(new byte[] { 1, 2, 3 }, await File.ReadAllBytesAsync(next.Path!));
        Assert.Single(SpoolFiles);
    }

    [Theory]
    [InlineData(1024, 1025)]                      // under the in-memory size: never spooled
    [InlineData(200 * 1024, (200 * 1024) + 1)]    // one byte over, found in the last chunk
    [InlineData(200 * 1024, 5 * 1024 * 1024)]     // far over: reading stops at the limit plus a chunk
    public async Task A_file_over_the_limit_is_null_and_leaves_no_spool_file(int limit, int size)
    {
        using var spool = new UploadSpool(_directory, limit);
        var source = new MemoryStream(Bytes(size));
        Assert.Null(await spool.ReadAsync(source, CancellationToken.None));
        Assert.Empty(SpoolFiles);
        Assert.True(source.Position <= limit + 1 + UploadSpool.ChunkSize, $"read {source.Position} bytes of an over-limit file");

        // Exactly the limit passes.
        Assert.Equal(limit, Assert.NotNull(await spool.ReadAsync(new MemoryStream(Bytes(limit)), CancellationToken.None)).Length);
    }

    [Fact]
    public async Task A_read_that_fails_mid_file_leaves_nothing_once_the_spool_is_disposed()
    {
        var spool = new UploadSpool(_directory, 1024 * 1024);
        Assert.NotNull(await spool.ReadAsync(new MemoryStream(Bytes(300 * 1024)), CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(() => spool.ReadAsync(new Broken(Bytes(400 * 1024), failAfter: 200 * 1024), CancellationToken.None));
        Assert.Equal(2, SpoolFiles.Length);

        spool.Dispose();
        Assert.Empty(SpoolFiles);
    }

    /// <summary>A body whose client goes away after <paramref name="failAfter"/> bytes.</summary>
    private sealed class Broken(byte[] bytes, int failAfter) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= failAfter ? throw new IOException("the client went away") : base.ReadAsync(buffer[..Math.Min(buffer.Length, failAfter - (int)Position)], cancellationToken);
    }
}
