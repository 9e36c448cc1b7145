using Drover.Hub.Fleet;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;
using Drover.Storage.Sqlite;
using Drover.TestUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The status writer over a real SQLite store with a fake clock moved by seconds (an hour in all): history at
/// the full rate for the last <see cref="HubOptions.HistoryFullRateFor"/>, one sample a minute before, and the agent events
/// written with the batches and pruned after <see cref="HubOptions.KeepEvents"/>.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xunit v2 ends a test class through IAsyncLifetime.DisposeAsync, which disposes the store.")]
public sealed class StatusWriterHistoryTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private readonly string _directory = HubFixture.NewDataDirectory();
    private SqliteFleetStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteFleetStore(new SqliteStoreOptions { Path = Path.Combine(_directory, "drover.db") });
        await _store.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        TestPaths.DeleteDirectoryQuietly(_directory);
    }

    [Fact]
    public async Task History_is_downsampled_past_the_full_rate_span_and_events_ride_in_the_batches_until_their_retention()
    {
        var time = new FakeTimeProvider(T0);
        var options = new HubOptions
        {
            TimeProvider = time,
            KeepHistory = TimeSpan.FromHours(2),
            HistoryFullRateFor = TimeSpan.FromMinutes(30),
            KeepEvents = TimeSpan.FromMinutes(20),
        };
        var registry = new AgentRegistry(time);
        registry.Load([new AgentRecord { Id = "a", FirstSeen = T0, LastSeen = T0, Presence = Presence.Online, SessionEpoch = 7 }], 7, 0);
        Assert.True(registry.TryGet("a", out var entry));
        using var metrics = new Hub.Metrics.HubMetrics(new ReportSchedule(options.ReportInterval, options.MaxReportsPerSecond));
        using var writer = new StatusWriter(registry, _store, options, NullLogger.Instance, metrics);

        // A report every 10 s for an hour, each flushed (a flush writes at most one sample per agent).
        for (var step = 1; step <= 360; step++)
        {
            time.Advance(TimeSpan.FromSeconds(10));
            var payload = FrameCodec.ToArray(RawProtocolClient.MakeStatus((ulong)step)).AsSpan(ProtocolConstants.HeaderSize).ToArray();
            Assert.True(registry.RecordStatus(entry, 7, payload));
            if (step == 30)
            {
                registry.SetPresence(entry, Presence.Late, null); // 5 minutes in: an event, pruned 20 minutes later
            }

            if (step == 300)
            {
                registry.SetPresence(entry, Presence.Late, null); // 50 minutes in: kept
            }

            Assert.True(await writer.FlushAsync(CancellationToken.None));
        }

        var samples = await _store.ReadStatusHistoryAsync("a", null, null, 1000, CancellationToken.None);
        var times = samples.Select(s => s.Status.ReceivedAt).ToList();

        // Before the full-rate span (less the minute the downsampling trails by): one sample per minute, every minute.
        var old = times.Where(t => t < T0.AddMinutes(29)).ToList();
        Assert.Equal(29, old.Count);
        Assert.Equal(29, old.Select(t => (t - T0).Minutes).Distinct().Count());
        Assert.All(old, t => Assert.Equal(50, t.Second)); // the newest of each minute

        // Within it: every report.
        Assert.Equal(181, times.Count(t => t >= T0.AddMinutes(30)));

        // Each late → online change made two events; those older than 20 minutes are gone.
        var events = await _store.ReadAgentEventsAsync("a", null, null, 100, CancellationToken.None);
        Assert.Equal([("presence", "online"), ("presence", "late")], events.Select(e => (e.Kind, e.Reason)));
        Assert.All(events, e => Assert.True(e.At >= T0.AddMinutes(50)));
    }
}
