using Drover.Cli.Configuration;
using Drover.Hub;
using Drover.Hub.Security;
using Drover.Storage.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Hosting;

/// <summary>The hub as a hosted service: locks the data directory (<see cref="DataDirectoryLock"/>: one hub per
/// directory), opens the SQLite stores in it and starts <see cref="DroverHub"/>;
/// on the host's stop (SIGTERM, Ctrl-C) says bye to every agent and flushes the store.</summary>
internal sealed class HubService : IHostedService, IAsyncDisposable
{
    private readonly ServeConfig _config;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private DataDirectoryLock? _dataLock;
    private SqliteFleetStore? _store;
    private SqliteJobStore? _jobStore;
    private HubTlsIdentity? _tls;
    private DroverHub? _hub;

    public HubService(ServeConfig config, ILoggerFactory loggerFactory)
    {
        _config = config;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("drover");
    }

    /// <summary>Start-up failures (busy port, unwritable data directory) propagate out of the host's StartAsync.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _dataLock = DataDirectoryLock.Acquire(_config.DataDirectory);
        _tls = LoadTlsIdentity();
        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(_config.DataDirectory, "drover.db"), TimeProvider = _config.Hub.TimeProvider };
        _store = new SqliteFleetStore(storeOptions);
        _jobStore = new SqliteJobStore(storeOptions);
        _hub = new DroverHub(_config.Hub with { Tls = _tls }, _store, _jobStore, _loggerFactory);
        await _hub.StartAsync(cancellationToken);
        Log.HubStarted(_logger, _config.DataDirectory, _config.Hub.ReportInterval);
    }

    /// <summary>The agent port's certificate: the operator's files, or the hub's own in the data directory (made on the
    /// first start); null with --insecure. Says how agents trust it (or warns that nothing is authenticated).</summary>
    private HubTlsIdentity? LoadTlsIdentity()
    {
        if (_config.Insecure)
        {
            Log.HubInsecure(_logger);
            return null;
        }

        var identity = _config.TlsCertificate is { } certificate
            ? HubTlsIdentity.Load(certificate, _config.TlsKey!)
            : HubTlsIdentity.LoadOrCreate(_config.DataDirectory, _config.TlsNames, _config.Hub.TimeProvider);
        Log.HubTls(_logger, identity.Fingerprint, identity.TrustAnchorPath ?? "(the CA that signed " + _config.TlsCertificate + ")");
        return identity;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_hub is not null)
        {
            Log.HubStopping(_logger);
        }

        await CloseAsync();
    }

    public ValueTask DisposeAsync() => new(CloseAsync());

    /// <summary>Disposes the hub and the stores (after a failed start too).</summary>
    public async Task CloseAsync()
    {
        if (_hub is { } hub)
        {
            _hub = null;
            await hub.DisposeAsync();
        }

        if (_jobStore is { } jobStore)
        {
            _jobStore = null;
            await jobStore.DisposeAsync();
        }

        if (_store is { } store)
        {
            _store = null;
            await store.DisposeAsync();
        }

        _tls?.Dispose();
        _tls = null;

        // Released last: nothing of this hub touches the directory after this.
        _dataLock?.Dispose();
        _dataLock = null;
    }
}
