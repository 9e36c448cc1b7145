using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Drover.Bench.Internal;

/// <summary>The hub being measured: by default a `drover serve` child on a temporary data dir and
/// free ports, so that the bench can read its /proc figures, kill -9 it and start it again; or an
/// external hub given by address and pid.</summary>
internal sealed partial class HubUnderTest : IAsyncDisposable
{
    /// <summary>The hub's default --max-file-size (1 MiB): larger bench files need the flag.</summary>
    private const int DefaultHubMaxFileSize = 1024 * 1024;

    private readonly BenchOptions _options;
    private HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private Process? _process;
    private string? _dataDirectory;

    private HubUnderTest(BenchOptions options) => _options = options;

    public IPEndPoint AgentEndPoint { get; private set; } = null!;

    public Uri? Api { get; private set; }

    public int Pid { get; private set; }

    /// <summary>How the simulated agents check this hub over TLS; null: plain TCP.</summary>
    public Drover.Agent.HubTrust? Trust { get; private set; }

    /// <summary>The API token the bench sends: the bench's own hub's bootstrap token (DATA/admin.token), or
    /// <see cref="BenchOptions.ApiToken"/> for an external hub.</summary>
    public string? ApiToken { get; private set; }

    public string? DataDirectory => _dataDirectory;

    /// <summary>The hub's log (kept after the run, beside the temporary data directory).</summary>
    public string LogPath => (_dataDirectory ?? Path.Combine(Path.GetTempPath(), "drover-bench")) + ".hub.log";

    public bool IsOwn => _process is not null || _dataDirectory is not null;

    public static async Task<HubUnderTest> StartAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        var hub = new HubUnderTest(options);
        if (options.Hub is { } external)
        {
            hub.AgentEndPoint = external;
            hub.Pid = options.HubPid!.Value;
            hub.Api = options.HubApi ?? new Uri($"http://{external.Address}:7401/");
            hub.Trust = options.HubFingerprint is { } fingerprint ? Drover.Agent.HubTrust.FromKeyFingerprint(fingerprint) : null;
            hub.Authorize(options.ApiToken);
            return hub;
        }

        hub._dataDirectory = Directory.CreateTempSubdirectory("drover-bench-").FullName;
        await hub.LaunchAsync(0, cancellationToken).ConfigureAwait(false);
        if (options.Tls)
        {
            // The key the hub made in its data directory at its first start.
            using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(
                Path.Combine(hub._dataDirectory, "tls", "hub.pem"));
            hub.Trust = Drover.Agent.HubTrust.FromKeyFingerprint(
                Drover.Protocol.CertificateFingerprint.Format(Drover.Protocol.CertificateFingerprint.OfPublicKey(certificate)));
        }

        // The bootstrap admin token the hub wrote at its first start.
        hub.Authorize((await File.ReadAllTextAsync(Path.Combine(hub._dataDirectory, "admin.token"), cancellationToken).ConfigureAwait(false)).Trim());
        return hub;
    }

    /// <summary>kill -9, at once: the hub gets no chance to flush or say bye.</summary>
    public async Task KillHardAsync()
    {
        var process = _process ?? throw new InvalidOperationException("only the bench's own hub can be killed");
        using (var kill = Process.Start("kill", ["-KILL", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }

        await process.WaitForExitAsync().ConfigureAwait(false);
        process.Dispose();
        _process = null;
    }

    /// <summary>Starts the hub again on the same data and the same agent port.</summary>
    public Task RestartAsync(CancellationToken cancellationToken) => LaunchAsync(AgentEndPoint.Port, cancellationToken);

    /// <summary>SIGTERM (as systemd stops a service; SIGINT is ignored by background jobs of a
    /// non-interactive shell): the hub says bye to every agent, flushes its store and exits. Returns
    /// false if it did not exit within 30 s (it is then killed).</summary>
    public async Task<bool> StopGracefullyAsync()
    {
        if (_process is not { } process)
        {
            return true;
        }

        using (var terminate = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await terminate.WaitForExitAsync().ConfigureAwait(false);
        }

        var stopped = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stopped = false;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        process.Dispose();
        _process = null;
        return stopped;
    }

    public ProcessFigures ReadFigures() => ProcessFigures.Read(Pid);

    /// <summary>The hub's own count of reports per second for the last <paramref name="seconds"/> seconds, and the lost count.</summary>
    public async Task<(long[] ArrivalsPerSecond, int Lost, bool RestartGrace, int Online)> ReadStatsAsync(int seconds, CancellationToken cancellationToken)
    {
        var json = await _http.GetStringAsync(new Uri(Api!, $"api/stats?seconds={seconds}"), cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var arrivals = root.GetProperty("arrivalsPerSecond").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var byState = root.GetProperty("byState");
        return (arrivals, byState.GetProperty("lost").GetInt32(), root.GetProperty("restartGrace").GetBoolean(), byState.GetProperty("online").GetInt32());
    }

    /// <summary>The hub's job counts (<c>GET /api/stats</c> → <c>jobs</c>); null when the hub has no job engine.</summary>
    public async Task<HubJobCounts?> ReadJobCountsAsync(CancellationToken cancellationToken)
    {
        var json = await _http.GetStringAsync(new Uri(Api!, "api/stats?seconds=1"), cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("jobs", out var jobs) || jobs.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        long Count(string name) => jobs.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n : 0;
        return new HubJobCounts(Count("queued"), Count("running"), Count("done"), Count("dead"), Count("cancelled"), Count("submittedTotal"), Count("finishedTotal"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }

            process.Dispose();
        }

        _http.Dispose();
    }

    /// <summary>Removes the temporary data directory (after the store was read).</summary>
    public void DeleteData()
    {
        if (_dataDirectory is not null && Directory.Exists(_dataDirectory))
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private async Task LaunchAsync(int agentPort, CancellationToken cancellationToken)
    {
        var (program, prefix) = DefaultCommand();
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in prefix)
        {
            start.ArgumentList.Add(arg);
        }

        string[] args =
        [
            "serve", "--listen", $"127.0.0.1:{agentPort}", "--http", "127.0.0.1:0", "--data", _dataDirectory!,
            "--interval", $"{(long)_options.Interval.TotalMilliseconds}ms", "--token", _options.Token,
        ];
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        if (_options.JobMode && _options.FileSize > DefaultHubMaxFileSize)
        {
            start.ArgumentList.Add("--max-file-size");
            start.ArgumentList.Add(_options.FileSize.ToString(CultureInfo.InvariantCulture));
        }

        if (!_options.Tls)
        {
            start.ArgumentList.Add("--insecure");
        }

        if (_options.AdmitRate is { } rate)
        {
            start.ArgumentList.Add("--admit-rate");
            start.ArgumentList.Add(rate.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var (key, value) in _options.HubEnvironment)
        {
            start.Environment[key] = value;
        }

        var ready = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        var process = Process.Start(start)!;
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                log.WriteLine(line);
            }

            if (ListeningLine().Match(line) is { Success: true } match)
            {
                ready.TrySetResult(match);
            }
        }

        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"the hub exited before it listened; see {LogPath}"));
        process.EnableRaisingEvents = true;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;

        var listening = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        AgentEndPoint = new IPEndPoint(IPAddress.Loopback, int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture));
        Api = new Uri(listening.Groups[2].Value);
        Pid = process.Id;
    }

    /// <summary>From now on the API is asked with <paramref name="token"/>, trusting an https:// API's certificate as the
    /// simulated agents trust the agent port's (<see cref="Trust"/>).</summary>
    private void Authorize(string? token)
    {
        ApiToken = token;
        _http.Dispose();
        _http = CreateApiClient(1);
        _http.Timeout = TimeSpan.FromSeconds(30);
    }

    /// <summary>An HTTP client for this hub's API: at most <paramref name="connections"/> pooled connections, never
    /// recycled, the API token on every request, and an https:// API's certificate checked by <see cref="Trust"/>.</summary>
    public HttpClient CreateApiClient(int connections)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (Trust is { IsInsecure: false } trust && Api is { } api && api.Scheme == Uri.UriSchemeHttps)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = trust.ClientOptions(api.Host).RemoteCertificateValidationCallback;
        }

        var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        if (ApiToken is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiToken);
        }

        return http;
    }

    /// <summary>This same drover executable: `dotnet drover.dll` or the apphost itself.</summary>
    private static (string, IReadOnlyList<string>) DefaultCommand()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" && entry is not null ? (host, [entry]) : (host, []);
    }

    [GeneratedRegex(@"listening for agents on 127\.0\.0\.1:(\d+); HTTP API on (https?://127\.0\.0\.1:\d+/)")]
    private static partial Regex ListeningLine();
}

/// <summary>The hub's own job counts, from the store (<c>GET /api/stats</c> → <c>jobs</c>).</summary>
internal readonly record struct HubJobCounts(long Queued, long Running, long Done, long Dead, long Cancelled, long SubmittedTotal, long FinishedTotal);
