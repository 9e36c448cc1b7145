using Drover.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Storage.Tests;

/// <summary>The rows the job store stamps on its own (cancel, expiry, a requeue that ends a job) carry the time of
/// <see cref="SqliteStoreOptions.TimeProvider"/>, the clock a hub hands it, not the machine's.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the field.")]
public sealed class SqliteStoreClockTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2031, 3, 14, 15, 9, 26, 535, TimeSpan.Zero);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "drover-storage-tests", Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(T0);
    private SqliteJobStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteJobStore(new SqliteStoreOptions { Path = Path.Combine(_directory, "jobs.db"), TimeProvider = _time });
        await _store.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void The_default_clock_is_the_system_clock()
    {
        Assert.Same(TimeProvider.System, new SqliteStoreOptions { Path = "x.db" }.TimeProvider);
    }

    [Fact]
    public async Task A_cancel_is_stamped_with_the_given_clock()
    {
        await _store.SubmitAsync([Job("j-cancel", maxRetries: 2)], CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(3));

        Assert.True(await _store.CancelAsync("j-cancel", CancellationToken.None));

        var job = await _store.GetJobAsync("j-cancel", withContent: false, CancellationToken.None);
        Assert.Equal(JobStates.Cancelled, job!.State);
        Assert.Equal(T0.AddMinutes(3), job.FinishedAt);
    }

    [Fact]
    public async Task An_expiry_is_stamped_with_the_given_clock()
    {
        await _store.SubmitAsync([Job("j-expire", maxRetries: 2)], CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(2));

        Assert.True(await _store.ExpireQueuedAsync("j-expire", "agent edge-1 did not come online within 5m", CancellationToken.None));

        var job = await _store.GetJobAsync("j-expire", withContent: false, CancellationToken.None);
        Assert.Equal(JobStates.Dead, job!.State);
        Assert.Equal(T0.AddHours(2), job.FinishedAt);
    }

    [Fact]
    public async Task A_requeue_with_no_retries_left_is_stamped_with_the_given_clock_also_through_the_shorthand_constructor()
    {
        var path = Path.Combine(_directory, "shorthand.db");
        var time = new FakeTimeProvider(T0.AddDays(400));
        await using var store = new SqliteJobStore(new SqliteStoreOptions { Path = path }, time);
        await store.InitializeAsync(CancellationToken.None);
        await store.SubmitAsync([Job("j-requeue", maxRetries: 0)], CancellationToken.None);
        Assert.True(await store.LeaseAsync("j-requeue", "agent-1", 1, time.GetUtcNow().AddMinutes(5), CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(90));

        await store.RequeueAsync("j-requeue", 1, "lease expired", CancellationToken.None);

        var job = await store.GetJobAsync("j-requeue", withContent: false, CancellationToken.None);
        Assert.Equal(JobStates.Dead, job!.State);
        Assert.Equal(T0.AddDays(400).AddSeconds(90), job.FinishedAt);
    }

    private JobRecord Job(string id, int maxRetries) => new()
    {
        Id = id,
        Target = "random",
        FileName = id + ".sh",
        FileSize = 3,
        Sha256 = System.Security.Cryptography.SHA256.HashData([0x65, 0x63, 0x68]),
        Content = [0x65, 0x63, 0x68],
        Args = "",
        Timeout = TimeSpan.FromMinutes(5),
        MaxRetries = maxRetries,
        SubmittedAt = _time.GetUtcNow(),
    };
}
