using Drover.Storage.Sqlite;
using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Drover.Storage.Tests;

/// <summary>What the status history costs on disk (docs/operations.md, "Status history and events"), and the migration
/// of a version 5 file (no events) to version 6.</summary>
public sealed class SqliteHistoryCostTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("drover-history-cost-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_day_of_history_at_a_report_a_minute_costs_under_250_KiB_per_agent()
    {
        const int Agents = 100;
        const int Minutes = 24 * 60;
        var path = Path.Combine(_directory, "cost.db");
        await using (var store = new SqliteFleetStore(new SqliteStoreOptions { Path = path }))
        {
            await store.InitializeAsync(CancellationToken.None);
            var agents = Enumerable.Range(0, Agents).Select(i => $"agent-{i:D5}").ToArray();
            var before = new FileInfo(path).Length;

            // What the writer appends: one sample per agent and flush it reported in, with the demo's kind of fields.
            for (var minute = 0; minute < Minutes; minute++)
            {
                var at = T0.AddMinutes(minute);
                var samples = agents.Select((id, i) => new StatusSample(id, new StatusRecord(
                    (ulong)minute, "busy", minute % 101, $"{{\"load1\":{(i + minute) % 400 / 100.0},\"queue\":{minute % 20},\"disk_free\":{123_456_789 + minute}}}", at))).ToList();
                await store.WriteBatchAsync([], samples, [], CancellationToken.None);
            }

            await store.WriteBatchAsync([], [], [.. agents.Select(id => new AgentEventRecord(0, id, T0, AgentEventKinds.SessionOpened, null, $"from 10.1.2.3:40000, version 0.1.0, session epoch 1764547200000000"))], CancellationToken.None);
        }

        // Every page in the main file (the last connection's close checkpoints the WAL).
        SqliteConnection.ClearAllPools();
        var bytes = new FileInfo(path).Length;
        var perAgentDay = bytes / (double)Agents;
        output.WriteLine($"{Agents} agents x {Minutes} samples: {bytes:N0} bytes, {perAgentDay / 1024:N1} KiB per agent-day, {bytes / (double)(Agents * Minutes):N0} bytes per sample");
        Assert.InRange(perAgentDay, 40 * 1024, 250 * 1024);
    }

    [Fact]
    public async Task A_version_5_file_keeps_its_history_and_gains_the_events()
    {
        var path = Path.Combine(_directory, "v5.db");
        using (var raw = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = string.Concat(Schema.Migrations.Take(5)) +
                "INSERT INTO status_history (agent_id, seq, state, progress, fields, received_at) VALUES ('edge-7', 3, 'idle', NULL, '{}', 1000);" +
                "PRAGMA user_version = 5;";
            command.ExecuteNonQuery();
        }

        await using var store = new SqliteFleetStore(new SqliteStoreOptions { Path = path });
        await store.InitializeAsync(CancellationToken.None);
        Assert.Equal(3UL, Assert.Single(await store.ReadStatusHistoryAsync("edge-7", null, null, 10, CancellationToken.None)).Status.Sequence);
        await store.WriteBatchAsync([], [], [new AgentEventRecord(0, "edge-7", T0, AgentEventKinds.Presence, "lost", "online → lost")], CancellationToken.None);
        Assert.Equal("lost", Assert.Single(await store.ReadAgentEventsAsync("edge-7", null, null, 10, CancellationToken.None)).Reason);
        Assert.Equal(7L, await store.WriterPragmaAsync("user_version", CancellationToken.None));
    }
}
