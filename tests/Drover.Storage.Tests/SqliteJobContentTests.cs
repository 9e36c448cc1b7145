using Drover.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Tests;

/// <summary>The job file part of the contract (<see cref="JobContentContract"/>) against real SQLite files.</summary>
public sealed class SqliteJobContentTests : JobContentContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drover-content-store-").FullName;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    protected override async Task<IJobStore> CreateStoreAsync(string name)
    {
        var store = new SqliteJobStore(new SqliteStoreOptions { Path = Path.Combine(_directory, name + ".db") });
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }
}
