using Drover.Cli.Configuration;
using Drover.Hub;
using Drover.Hub.Security;
using Drover.Storage.Sqlite;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Hosting;

/// <summary>The hub as a hosted service of <see cref="ServeHost"/>'s app: locks the data directory
/// (<see cref="DataDirectoryLock"/>: one hub per directory), builds <see cref="DroverHub"/> from the validated options over
/// the SQLite stores in it and starts it (which opens the stores), all before the app's server listens; once the server
/// listens, tells the hub its API's address; on the host's stop (SIGTERM, Ctrl-C), after the server has stopped, says bye to
/// every agent and flushes the store.</summary>
internal sealed class HubService : IHostedLifecycleService, IAsyncDisposable
{
    private readonly ServeConfig _config;
    private readonly IOptions<HubOptions> _options;
    private readonly IServer _server;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private DataDirectoryLock? _dataLock;
    private SqliteFleetStore? _store;
    private SqliteJobStore? _jobStore;
    private SqliteAccessStore? _accessStore;
    private HubTlsIdentity? _tls;
    private DroverHub? _hub;

    /// <summary><paramref name="options"/> is read at start, once the host has validated it.</summary>
    public HubService(ServeConfig config, IOptions<HubOptions> options, IServer server, ILoggerFactory loggerFactory)
    {
        _config = config;
        _options = options;
        _server = server;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("drover");
    }

    /// <summary>The TLS identity of both ports once the start has loaded it (null before, and with --insecure).</summary>
    public HubTlsIdentity? Tls => _tls;

    /// <summary>The hub once it has started (null before), for the API's endpoints; it stays set after the stop.</summary>
    public DroverHub? StartedHub { get; private set; }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Start-up failures (busy port, unwritable data directory) propagate out of the host's StartAsync.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = _options.Value;
        _dataLock = DataDirectoryLock.Acquire(_config.DataDirectory);
        _tls = LoadTlsIdentity(options);
        var storeOptions = new SqliteStoreOptions { Path = Path.Combine(_config.DataDirectory, "drover.db"), TimeProvider = options.TimeProvider };
        _store = new SqliteFleetStore(storeOptions);
        _jobStore = new SqliteJobStore(storeOptions);
        _accessStore = new SqliteAccessStore(storeOptions);
        _hub = new DroverHub(options with { Tls = _tls }, _store, _jobStore, _accessStore, _loggerFactory) { HostedApi = options.HttpEndPoint is not null };
        await _hub.StartAsync(cancellationToken);
        StartedHub = _hub;
        Log.HubStarted(_logger, _config.DataDirectory, options.ReportInterval);
    }

    /// <summary>Every hosted service has started, the app's server last: it listens now, so the hub's start line can
    /// name the API's address.</summary>
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (_hub is { HostedApi: true } hub && _server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() is { } address)
        {
            hub.ApiListening(new Uri(address));
        }

        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The agent port's certificate: the operator's files, or the hub's own in the data directory (made on the
    /// first start); null with --insecure. Says how agents trust it (or warns that nothing is authenticated).</summary>
    private HubTlsIdentity? LoadTlsIdentity(HubOptions options)
    {
        if (_config.Insecure)
        {
            Log.HubInsecure(_logger);
            return null;
        }

        var identity = _config.TlsCertificate is { } certificate
            ? HubTlsIdentity.Load(certificate, _config.TlsKey!)
            : HubTlsIdentity.LoadOrCreate(_config.DataDirectory, _config.TlsNames, options.TimeProvider);
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

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => new(CloseAsync());

    /// <summary>Disposes the hub and the stores (after a failed start too).</summary>
    public async Task CloseAsync()
    {
        if (_hub is { } hub)
        {
            _hub = null;
            await hub.DisposeAsync();
        }

        if (_accessStore is { } accessStore)
        {
            _accessStore = null;
            await accessStore.DisposeAsync();
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
