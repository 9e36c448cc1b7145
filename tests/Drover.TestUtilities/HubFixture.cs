using System.Net;
using Drover.Hub;
using Drover.Storage.Sqlite;

namespace Drover.TestUtilities;

/// <summary>A real hub in-process: agent port and HTTP API on 127.0.0.1 with free ports, a real
/// SQLite file in a temporary folder that is deleted on dispose.</summary>
public sealed class HubFixture : IAsyncDisposable
{
    private readonly bool _ownsDirectory;

    /// <summary>The admin API token every test hub accepts (<see cref="HubOptions.AdminToken"/>), and that
    /// <see cref="CreateApiClient"/> sends. A test secret, made once with <c>drover tokens generate</c>.</summary>
    public const string AdminToken = "drover_7e57ad000001_T3stT0kenF0rTheDroverSuiteOnlyNotASecret000";

    private HubFixture(DroverHub hub, SqliteFleetStore store, SqliteJobStore jobStore, SqliteAccessStore accessStore, string directory, bool ownsDirectory)
    {
        Hub = hub;
        Store = store;
        JobStore = jobStore;
        AccessStore = accessStore;
        DataDirectory = directory;
        _ownsDirectory = ownsDirectory;
    }

    public DroverHub Hub { get; }

    public SqliteFleetStore Store { get; }

    /// <summary>The job store: the same SQLite file as <see cref="Store"/>.</summary>
    public SqliteJobStore JobStore { get; }

    /// <summary>The access store (API tokens, audit log): the same SQLite file as <see cref="Store"/>.</summary>
    public SqliteAccessStore AccessStore { get; }

    public string DataDirectory { get; }

    public IPEndPoint AgentEndPoint => Hub.AgentEndPoint;

    public Uri ApiUrl => Hub.ApiUrl!;

    public static string NewDataDirectory() => Directory.CreateTempSubdirectory("drover-test-").FullName;

    /// <summary>Starts a hub. <paramref name="configure"/> adjusts the test defaults; pass
    /// <paramref name="dataDirectory"/> to reuse a previous hub's data (a restart), <paramref name="loggerFactory"/>
    /// to see its log (a <see cref="LogCapture"/>'s factory).</summary>
    public static async Task<HubFixture> StartAsync(Func<HubOptions, HubOptions>? configure = null, string? dataDirectory = null, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null)
    {
        var ownsDirectory = dataDirectory is null;
        var directory = dataDirectory ?? NewDataDirectory();
        var options = new HubOptions
        {
            AgentEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HttpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HubId = "test-hub",
            ReportInterval = TimeSpan.FromSeconds(60),
            FlushInterval = TimeSpan.FromMilliseconds(100),
            SweepInterval = TimeSpan.FromMilliseconds(100),
            AdmitPerSecond = 100_000,
            AdminToken = AdminToken,
            UploadDirectory = Path.Combine(directory, "uploads"),

            // The suite's hubs let agents in without a credential, unless a test sets a shared token or is about credentials.
            OpenAgents = true,
        };
        options = configure?.Invoke(options) ?? options;
        if (options.Token.Length > 0)
        {
            options = options with { OpenAgents = false };
        }

        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(directory, "drover.db"), TimeProvider = options.TimeProvider };
        var store = new SqliteFleetStore(storeOptions);
        var jobStore = new SqliteJobStore(storeOptions);
        var accessStore = new SqliteAccessStore(storeOptions);
        var hub = new DroverHub(options, store, jobStore, accessStore, loggerFactory);
        await hub.StartAsync(CancellationToken.None);
        return new HubFixture(hub, store, jobStore, accessStore, directory, ownsDirectory);
    }

    /// <summary>A client of the hub's API sending <paramref name="token"/> (default: the admin token; null: none).</summary>
    public HttpClient CreateApiClient(string? token = AdminToken) =>
        // A hub with TLS serves its API over HTTPS with the same key: pinned here, as an agent pins it.
        ApiClients.Create(ApiUrl, Hub.Options.Tls is { } tls ? Agent.HubTrust.FromKeyFingerprint(tls.Fingerprint) : null, token, TimeSpan.FromSeconds(30));

    /// <summary>Polls <paramref name="condition"/> with a real timeout: for state reached through real sockets.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"condition not reached in time{(because is null ? string.Empty : ": " + because)}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Stops the hub and closes the store, keeping the data (for restart tests).</summary>
    public async Task StopAsync()
    {
        await Hub.DisposeAsync();
        await AccessStore.DisposeAsync();
        await JobStore.DisposeAsync();
        await Store.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
