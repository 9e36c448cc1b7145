using System.Security.Cryptography;

namespace Drover.Storage.Tests;

/// <summary>The part of the job store contract on job files: a submission's content from a file
/// (<see cref="JobRecord.ContentFile"/>, copied in chunks) and reading contents back by id
/// (<see cref="IJobStore.LoadContentAsync"/>), as the hub does when it dispatches a job. An implementation's test class
/// derives from this and says how to create a store; every test here then runs against it.</summary>
public abstract class JobContentContract : IAsyncLifetime
{
    private readonly List<IJobStore> _opened = [];

    /// <summary>A new, empty store, already initialized.</summary>
    protected abstract Task<IJobStore> CreateStoreAsync(string name);

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (IJobStore store in _opened)
        {
            await store.DisposeAsync();
        }
    }

    private async Task<IJobStore> NewStoreAsync()
    {
        IJobStore store = await CreateStoreAsync("content");
        _opened.Add(store);
        return store;
    }

    private static JobRecord Job(string id, byte[]? content = null) => new()
    {
        Id = id,
        FileName = id + ".bin",
        FileSize = content?.Length ?? 3,
        Sha256 = SHA256.HashData(content ?? [0x65, 0x63, 0x68]),
        Content = content ?? [0x65, 0x63, 0x68],
        Timeout = TimeSpan.FromMinutes(5),
        SubmittedAt = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero),
    };

    private static Task SubmitAsync(IJobStore store, params JobRecord[] jobs) => store.SubmitAsync(jobs, CancellationToken.None);

    private static async Task<JobRecord> GetAsync(IJobStore store, string id) =>
        await store.GetJobAsync(id, withContent: true, CancellationToken.None) ?? throw new InvalidOperationException($"no job {id}");

    /// <summary>A file of <paramref name="size"/> bytes that are not a repeating pattern of the chunk size.</summary>
    private static (string Path, byte[] Bytes) ContentFile(string directory, int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        var path = Path.Combine(directory, Guid.NewGuid().ToString("N") + ".upload");
        File.WriteAllBytes(path, bytes);
        return (path, bytes);
    }

    /// <summary>A job whose content is the file at <paramref name="path"/>, with the hash of what the file holds now (of no
    /// bytes when it does not exist).</summary>
    private static JobRecord FromFile(string id, string path, long size) =>
        Job(id) with { Content = [], ContentFile = path, FileSize = size, Sha256 = SHA256.HashData(File.Exists(path) ? File.ReadAllBytes(path) : []) };

    [Fact]
    public async Task A_content_file_is_copied_whole_and_read_back_by_id_and_the_file_is_left_to_its_owner()
    {
        IJobStore store = await NewStoreAsync();
        var directory = Directory.CreateTempSubdirectory("drover-content-").FullName;
        try
        {
            // Over several 64 KiB chunks and not a multiple of one; an empty file; an inline job beside them.
            var (bigPath, big) = ContentFile(directory, (5 * 64 * 1024) + 123);
            var (emptyPath, _) = ContentFile(directory, 0);
            await SubmitAsync(store, FromFile("big", bigPath, big.Length), FromFile("empty", emptyPath, 0), Job("inline", content: [7, 8]));

            Assert.Equal(big, (await GetAsync(store, "big")).Content);
            Assert.Null((await GetAsync(store, "big")).ContentFile);
            Assert.Empty((await GetAsync(store, "empty")).Content);
            IReadOnlyList<byte[]?> contents = await store.LoadContentAsync(["inline", "nope", "big", "empty"], CancellationToken.None);
            Assert.Equal(4, contents.Count);
            Assert.Equal([7, 8], contents[0]);
            Assert.Null(contents[1]);
            Assert.Equal(big, contents[2]);
            Assert.Equal([], contents[3]!);
            Assert.Empty(await store.LoadContentAsync([], CancellationToken.None));
            Assert.True(File.Exists(bigPath));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_content_file_that_is_missing_or_not_the_job_size_fails_the_whole_submission()
    {
        IJobStore store = await NewStoreAsync();
        var directory = Directory.CreateTempSubdirectory("drover-content-").FullName;
        try
        {
            var (path, bytes) = ContentFile(directory, 1000);
            await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("ok"), FromFile("short", path, bytes.Length + 1)));
            await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("ok"), FromFile("gone", Path.Combine(directory, "missing.upload"), 10)));
            Assert.Empty(await store.ListJobsAsync(null, null, 10, null, CancellationToken.None));
            Assert.Equal([null, null], await store.LoadContentAsync(["ok", "short"], CancellationToken.None));

            // The store still works after the rollbacks.
            await SubmitAsync(store, FromFile("fine", path, bytes.Length));
            Assert.Equal(bytes, (await GetAsync(store, "fine")).Content);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Jobs_that_carry_the_same_file_each_read_it_back_whole_however_it_arrived()
    {
        IJobStore store = await NewStoreAsync();
        var directory = Directory.CreateTempSubdirectory("drover-content-").FullName;
        try
        {
            var (path, bytes) = ContentFile(directory, (2 * 64 * 1024) + 7);
            await SubmitAsync(store, Job("a", content: bytes), Job("b", content: bytes), Job("other", content: [1, 2, 3]));
            await SubmitAsync(store, FromFile("c", path, bytes.Length), Job("d", content: bytes));

            IReadOnlyList<byte[]?> contents = await store.LoadContentAsync(["a", "b", "c", "d", "other"], CancellationToken.None);
            Assert.All(contents.Take(4), content => Assert.Equal(bytes, content));
            Assert.Equal([1, 2, 3], contents[4]);
            Assert.Equal(bytes, (await GetAsync(store, "c")).Content);
            Assert.Equal(SHA256.HashData(bytes), (await GetAsync(store, "c")).Sha256);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_file_whose_first_storing_was_rolled_back_is_stored_again_and_never_confused_with_another()
    {
        IJobStore store = await NewStoreAsync();
        byte[] h = [1, 1, 1];
        byte[] g = [2, 2, 2];
        await SubmitAsync(store, Job("taken"));

        // h is stored, then the batch fails on the taken id and rolls back; g then takes the place h had.
        await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, Job("h1", content: h), Job("taken")));
        await SubmitAsync(store, Job("g", content: g));
        await SubmitAsync(store, Job("h2", content: h), Job("h3", content: h));

        Assert.Equal([g, h, h], await store.LoadContentAsync(["g", "h2", "h3"], CancellationToken.None));
        Assert.Null(await store.GetJobAsync("h1", withContent: true, CancellationToken.None));
    }

    [Fact]
    public async Task A_job_whose_hash_is_not_its_file_s_is_refused_so_it_cannot_stand_for_another_file()
    {
        IJobStore store = await NewStoreAsync();
        var directory = Directory.CreateTempSubdirectory("drover-content-").FullName;
        try
        {
            byte[] real = [1, 2, 3];
            byte[] forged = [6, 6, 6];
            var (path, bytes) = ContentFile(directory, 1000);

            // The forged file claims the real one's hash: stored under it, a later job with the real file would be sent it.
            await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("forged") with { Content = forged, Sha256 = SHA256.HashData(real) }));
            await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("no-hash") with { Sha256 = [] }));
            await Assert.ThrowsAsync<StoreException>(() => SubmitAsync(store, FromFile("forged-file", path, bytes.Length) with { Sha256 = SHA256.HashData(real) }));
            Assert.Empty(await store.ListJobsAsync(null, null, 10, null, CancellationToken.None));

            await SubmitAsync(store, Job("real", content: real), FromFile("file", path, bytes.Length));
            Assert.Equal(real, (await GetAsync(store, "real")).Content);
            Assert.Equal(bytes, (await GetAsync(store, "file")).Content);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_content_file_with_inline_content_too_or_over_the_limit_is_rejected_before_anything_is_written()
    {
        IJobStore store = await NewStoreAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("both") with { ContentFile = "/nonexistent", FileSize = 3 }));
        await Assert.ThrowsAsync<ArgumentException>(() => SubmitAsync(store, Job("huge") with { Content = [], ContentFile = "/nonexistent", FileSize = JobRecord.MaxContentBytes + 1L }));
        Assert.Empty(await store.ListJobsAsync(null, null, 10, null, CancellationToken.None));
    }
}
