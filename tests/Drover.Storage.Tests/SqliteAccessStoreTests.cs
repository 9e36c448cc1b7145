using Drover.Storage.Sqlite;
using Drover.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Tests;

/// <summary>The access store's enrollment rows on a real SQLite file: a join token's uses are spent with the bindings it
/// makes, in the same transaction; a credential's state changes; and a version-4 file (agent keys bound on first use) is
/// migrated with its bindings approved.</summary>
public sealed class SqliteAccessStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "drover-storage-tests", Guid.NewGuid().ToString("N"));

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    private static async Task<SqliteAccessStore> OpenAsync(string path)
    {
        var store = new SqliteAccessStore(new SqliteStoreOptions { Path = path });
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    [Fact]
    public async Task Bindings_made_with_a_join_token_spend_its_uses_and_states_change()
    {
        var path = Path.Combine(_directory, "access.db");
        await using (var store = await OpenAsync(path))
        {
            var labels = new Dictionary<string, string> { ["pool"] = "build" };
            await store.AddTokenAsync(new TokenRecord("0123456789ab", TokenKinds.Join, TokenKinds.Join, "rack", new byte[32], T0, "admin", T0.AddHours(1), null, 3, labels, JoinApprovals.Hold), CancellationToken.None);
            await store.BindAgentKeysAsync(
                [
                    new AgentKeyRecord("a", new byte[32], T0, "10.0.0.1:1", AgentKeyStates.Pending, "0123456789ab", labels),
                    new AgentKeyRecord("b", new byte[32], T0, "10.0.0.2:1", AgentKeyStates.Pending, "0123456789ab", labels),
                    new AgentKeyRecord("c", new byte[32], T0, "10.0.0.3:1"),
                ],
                CancellationToken.None);
            Assert.True(await store.SetAgentKeyStateAsync("a", AgentKeyStates.Approved, T0.AddMinutes(1), CancellationToken.None));
            Assert.False(await store.SetAgentKeyStateAsync("nobody", AgentKeyStates.Revoked, T0, CancellationToken.None));
        }

        await using var reopened = await OpenAsync(path);
        var token = Assert.Single(await reopened.ListTokensAsync(CancellationToken.None));
        Assert.Equal((1, "build", JoinApprovals.Hold), (token.UsesLeft, token.Labels!["pool"], token.Approval));
        var keys = (await reopened.ListAgentKeysAsync(CancellationToken.None)).ToDictionary(k => k.AgentId);
        Assert.Equal((AgentKeyStates.Approved, T0.AddMinutes(1), "build"), (keys["a"].State, keys["a"].ChangedAt, keys["a"].Labels!["pool"]));
        Assert.Equal((AgentKeyStates.Pending, (DateTimeOffset?)null), (keys["b"].State, keys["b"].ChangedAt));
        Assert.Equal((AgentKeyStates.Approved, (string?)null, (IReadOnlyDictionary<string, string>?)null), (keys["c"].State, keys["c"].TokenId, keys["c"].Labels));
    }

    [Fact]
    public async Task A_version_4_file_keeps_its_bindings_approved_and_its_api_tokens()
    {
        var path = Path.Combine(_directory, "v4.db");
        using (var raw = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = string.Concat(Schema.Migrations.Take(4)) +
                "INSERT INTO tokens VALUES ('0123456789ab', 'api', 'admin', 'ops', x'00', 1000, 'hub', NULL, NULL);" +
                "INSERT INTO agent_keys VALUES ('edge-7', x'01', 1000, '127.0.0.1:5');" +
                "PRAGMA user_version = 4;";
            command.ExecuteNonQuery();
        }

        await using var store = await OpenAsync(path);
        var key = Assert.Single(await store.ListAgentKeysAsync(CancellationToken.None));
        Assert.Equal(("edge-7", AgentKeyStates.Approved, (string?)null), (key.AgentId, key.State, key.TokenId));
        var token = Assert.Single(await store.ListTokensAsync(CancellationToken.None));
        Assert.Equal((TokenKinds.Api, (int?)null, (string?)null), (token.Kind, token.UsesLeft, token.Approval));
    }
}
