using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Drover.TestUtilities;

/// <summary>The real <c>drover</c> executable as a child process: output captured line by line,
/// SIGTERM (as a service manager stops it), SIGINT and kill -9 on demand, always killed on dispose — and, as a safety net for a test
/// that forgot to dispose one, when the test process exits.</summary>
public sealed class DroverProcess : IAsyncDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<DroverProcess, byte> Live = new();

    static DroverProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAllLive();

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _newLine = new(0);

    private DroverProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Live.TryAdd(this, 0);
    }

    public int Id => _process.Id;

    /// <summary>Everything written to stdout and stderr so far, interleaved as it arrived.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static DroverProcess Start(params string[] args) => Start(null, args);

    public static DroverProcess Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = CreateStartInfo(args);
        start.RedirectStandardInput = true;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return new DroverProcess(Process.Start(start)!);
    }

    /// <summary>Starts drover in <paramref name="workingDirectory"/> (for a ./drover.json), with extra environment variables.</summary>
    public static DroverProcess StartIn(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = CreateStartInfo(args);
        start.RedirectStandardInput = true;
        start.WorkingDirectory = workingDirectory;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return new DroverProcess(Process.Start(start)!);
    }

    /// <summary>Starts drover with SIGINT ignored, as a shell's background job or <c>nohup</c> leaves it: through
    /// <c>/bin/sh -c 'trap "" INT; exec ...'</c> (an ignored signal stays ignored across exec).</summary>
    public static DroverProcess StartWithSigintIgnored(params string[] args)
    {
        var inner = CreateStartInfo(args);
        var start = CreateStartInfo([]);
        start.FileName = "/bin/sh";
        start.ArgumentList.Clear();
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("trap '' INT; exec \"$0\" \"$@\"");
        start.ArgumentList.Add(inner.FileName);
        foreach (var arg in inner.ArgumentList)
        {
            start.ArgumentList.Add(arg);
        }

        start.RedirectStandardInput = true;
        return new DroverProcess(Process.Start(start)!);
    }

    /// <summary>Starts drover under an open-files limit of <paramref name="openFiles"/> (soft and hard, as
    /// <c>ulimit -n</c> sets them), through <c>/bin/sh -c 'ulimit -n N; exec ...'</c>: the process id is drover's own.</summary>
    public static DroverProcess StartWithOpenFilesLimit(int openFiles, params string[] args)
    {
        var inner = CreateStartInfo(args);
        var start = CreateStartInfo([]);
        start.FileName = "/bin/sh";
        start.ArgumentList.Clear();
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"ulimit -n {openFiles.ToString(System.Globalization.CultureInfo.InvariantCulture)} && exec \"$0\" \"$@\"");
        start.ArgumentList.Add(inner.FileName);
        foreach (var arg in inner.ArgumentList)
        {
            start.ArgumentList.Add(arg);
        }

        start.RedirectStandardInput = true;
        return new DroverProcess(Process.Start(start)!);
    }

    /// <summary>Runs a short command to its end: exit code, stdout and stderr.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args) => RunInAsync(null, null, args);

    /// <summary>Runs a short command to its end in <paramref name="workingDirectory"/> (null: the current one), with extra environment variables.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunInAsync(string? workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = CreateStartInfo(args);
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>`dotnet drover.dll ARGS` with stdout and stderr captured, no DROVER_TOKEN, DROVER_API or API trust setting
    /// from the test's own environment, and the suite's admin token (<see cref="HubFixture.AdminToken"/>) for hub and CLI.</summary>
    private static ProcessStartInfo CreateStartInfo(string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment.Remove("DROVER_TOKEN");
        start.Environment.Remove("DROVER_API");
        start.Environment.Remove("DROVER_API_TOKEN_FILE");
        start.Environment.Remove("DROVER_CA");
        start.Environment.Remove("DROVER_HUB_FINGERPRINT");

        // Every hub a test starts accepts the suite's admin token, and every operator command sends it (a test
        // about tokens overrides either through its environment).
        start.Environment["DROVER_ADMIN_TOKEN"] = HubFixture.AdminToken;
        start.Environment["DROVER_API_TOKEN"] = HubFixture.AdminToken;
        start.ArgumentList.Add(FindDroverDll());
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    /// <summary>The path of drover.dll: next to the test assembly (test projects reference Drover.Cli),
    /// else in src/Drover.Cli/bin of the same configuration.</summary>
    public static string FindDroverDll()
    {
        var besideTests = Path.Combine(AppContext.BaseDirectory, "drover.dll");
        if (File.Exists(besideTests) && File.Exists(Path.Combine(AppContext.BaseDirectory, "drover.runtimeconfig.json")))
        {
            return besideTests;
        }

        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
        var built = TestPaths.RepositoryFile("src", "Drover.Cli", "bin", configuration, "net10.0", "drover.dll");
        return File.Exists(built) ? built : throw new FileNotFoundException($"drover.dll is neither next to the tests nor at {built}");
    }

    /// <summary>Waits for an output line matching <paramref name="pattern"/> and returns its match.</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan? timeout = null)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var match = regex.Match(Output);
            if (match.Success)
            {
                return match;
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero || (_process.HasExited && !await _newLine.WaitAsync(200)))
            {
                throw new TimeoutException($"no output matching /{pattern}/ from drover (exited: {_process.HasExited}). Output so far:\n{Output}");
            }

            await _newLine.WaitAsync(remaining < TimeSpan.FromMilliseconds(500) ? remaining : TimeSpan.FromMilliseconds(500));
        }
    }

    /// <summary>Sends SIGTERM, as systemd, Kubernetes and `kill` stop a service: the way tests stop a child, since SIGINT
    /// is ignored where the suite runs in the background (`nohup`, `&amp;`, some CI runners).</summary>
    public void Terminate() => Signal("TERM");

    /// <summary>Sends SIGINT, as Ctrl-C does (only for tests about Ctrl-C itself).</summary>
    public void Interrupt() => Signal("INT");

    /// <summary>kill -9: the process dies at once, with no chance to clean up.</summary>
    public void KillHard() => Signal("KILL");

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Live.TryRemove(this, out _);
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _newLine.Dispose();
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.AppendLine(line);
        }

        _newLine.Release();
    }

    private static void KillAllLive()
    {
        foreach (var process in Live.Keys)
        {
            try
            {
                process._process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }
    }
}
