using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Drover.Agent;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>The packages as a user gets them: <c>dotnet pack</c> of the packable projects (drover, Drover.Agent,
/// Drover.Protocol) into a temporary artifacts folder, <c>dotnet tool install</c> of drover from it, and
/// samples/AgentSample built against the packed Drover.Agent and run against a real hub. Every package
/// restore goes to a fresh packages folder of the test's own, so a package cached by an earlier run cannot
/// stand in for the one just packed. The slowest tests of the project (they run the .NET SDK): about a
/// minute together on an idle 2-core machine.</summary>
public sealed class PackagingTests : IClassFixture<PackagingTests.PackedArtifacts>
{
    private static readonly TimeSpan SdkTimeout = TimeSpan.FromMinutes(4);

    private readonly PackedArtifacts _packed;

    public PackagingTests(PackedArtifacts packed) => _packed = packed;

    /// <summary>The version in Directory.Build.props, which every assembly carries.</summary>
    private static string Version => AgentOptions.DefaultAgentVersion;

    [Fact]
    public async Task The_drover_tool_installs_from_the_artifacts_and_prints_its_version()
    {
        var toolPath = Path.Combine(_packed.Directory, "tools");
        var install = await Run.ToEndAsync(
            "dotnet", ["tool", "install", "--tool-path", toolPath, "--add-source", _packed.Artifacts, "drover", "--version", Version],
            _packed.Directory, _packed.Environment, SdkTimeout);
        Assert.True(install.ExitCode == 0, $"dotnet tool install failed:\n{install.Output}");

        var version = await Run.ToEndAsync(Path.Combine(toolPath, "drover"), ["--version"], _packed.Directory, _packed.Environment, TimeSpan.FromSeconds(30));
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.Equal(Version, version.Output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", Version);
    }

    [Fact]
    public async Task The_agent_sample_built_on_the_packed_library_registers_reports_and_runs_a_job()
    {
        // The sample as a user's project: samples/ copied out of the repository, a NuGet.config whose Drover.*
        // packages come from the artifacts folder only.
        CopyDirectory(TestPaths.RepositoryFile("samples"), _packed.Samples);
        var project = Path.Combine(_packed.Samples, "AgentSample");
        var build = await Run.ToEndAsync(
            "dotnet", ["build", project, "--disable-build-servers", "-c", "Release", "-o", Path.Combine(project, "out"), $"-p:DroverAgentVersion={Version}"],
            project, _packed.Environment, SdkTimeout);
        Assert.True(build.ExitCode == 0, $"the sample does not build against the packed Drover.Agent:\n{build.Output}");
        Assert.True(
            File.Exists(Path.Combine(_packed.Packages, "drover.agent", Version.ToLowerInvariant(), $"drover.agent.{Version.ToLowerInvariant()}.nupkg")),
            "the sample was not restored from the packed Drover.Agent");

        // A hub with TLS, which the sample trusts by its key fingerprint.
        using var tls = Drover.Hub.Security.HubTlsIdentity.LoadOrCreate(Path.Combine(_packed.Samples, "hub-tls"), [], TimeProvider.System);
        await using var hub = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1), Tls = tls });
        using var api = hub.CreateApiClient();
        await using var sample = Run.Start(
            "dotnet", [Path.Combine(project, "out", "AgentSample.dll"), "--hub", $"127.0.0.1:{hub.AgentEndPoint.Port}", "--id", "packaged-sample", "--hub-fingerprint", tls.Fingerprint],
            project, _packed.Environment);

        // Registered, and its report carries the field the sample sets.
        JsonElement agent = default;
        await Poll(async () =>
        {
            using var response = await api.GetAsync(new Uri("/api/agents/packaged-sample", UriKind.Relative));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }

            agent = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("agent").Clone();
            return agent.GetProperty("status").ValueKind == JsonValueKind.Object;
        }, sample, "the sample registered and reported");
        Assert.True(agent.GetProperty("connected").GetBoolean());
        Assert.Equal(Version, agent.GetProperty("version").GetString());
        Assert.Equal("sample", agent.GetProperty("labels").GetProperty("kind").GetString());
        Assert.Equal("agent-sample", agent.GetProperty("status").GetProperty("fields").GetProperty("sample").GetString());

        // A job to it, run by its in-process handler.
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("a,b\n1,2\n3,4\n"));
        using var submitted = await api.PostAsync(new Uri("/api/jobs?to=agent:packaged-sample&name=rows.csv&timeout=30s", UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        var jobId = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0].GetProperty("id").GetString();
        JsonElement job = default;
        await Poll(async () =>
        {
            job = JsonDocument.Parse(await api.GetStringAsync(new Uri($"/api/jobs/{jobId}", UriKind.Relative))).RootElement.Clone();
            return job.GetProperty("finishedAt").ValueKind != JsonValueKind.Null;
        }, sample, "the job finished");
        Assert.Equal("done", job.GetProperty("state").GetString());
        Assert.Equal("packaged-sample", job.GetProperty("agent").GetString());
        Assert.Equal("rows.csv: 3 lines, 12 bytes\n", job.GetProperty("stdout").GetString());
        Assert.Equal("rows.csv: 3 lines, 12 bytes\n", await api.GetStringAsync(new Uri($"/api/jobs/{jobId}/result/out", UriKind.Relative)));

        // SIGTERM, as systemd stops it: the sample says bye and exits 0.
        sample.Terminate();
        Assert.Equal(0, await sample.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("packaged-sample: stopped after 1 jobs", sample.Output, StringComparison.Ordinal);
    }

    /// <summary>Polls every 100 ms for up to 30 s (real sockets, a real child process); fails early if the sample exited.</summary>
    private static async Task Poll(Func<Task<bool>> condition, Run sample, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.False(sample.HasExited, $"the sample exited before {what}:\n{sample.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"not reached in 30 s: {what}. Sample output:\n{sample.Output}");
            await Task.Delay(100);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "out"))
            {
                continue;
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Packs drover, Drover.Agent and Drover.Protocol once for the class, from the assemblies this test
    /// run built (same configuration, <c>--no-build</c>), into a temporary artifacts folder; writes the
    /// NuGet.config the sample restores with and chooses the fresh packages folder.</summary>
    public sealed class PackedArtifacts : IAsyncLifetime
    {
        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("drover-pack-").FullName;

        public string Artifacts => Path.Combine(Directory, "artifacts");

        /// <summary>Where the sample is copied to; holds the NuGet.config it restores with (not above the tool
        /// install, whose --add-source cannot be combined with package source mapping).</summary>
        public string Samples => Path.Combine(Directory, "samples");

        /// <summary>NUGET_PACKAGES for every SDK command of these tests: empty at the start.</summary>
        public string Packages => Path.Combine(Directory, "packages");

        public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
        {
            ["NUGET_PACKAGES"] = Packages,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        };

        public async Task InitializeAsync()
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
            string[] projects = ["Drover.Cli", "Drover.Agent", "Drover.Protocol"];
            var packs = projects.Select(project => Run.ToEndAsync(
                "dotnet",
                ["pack", TestPaths.RepositoryFile("src", project), "-c", configuration, "--no-build", "--disable-build-servers", "-o", Artifacts],
                TestPaths.RepositoryRoot, Environment, SdkTimeout));
            foreach (var pack in await Task.WhenAll(packs))
            {
                Assert.True(pack.ExitCode == 0, $"dotnet pack failed:\n{pack.Output}");
            }

            foreach (var package in new[] { $"drover.{Version}.nupkg", $"Drover.Agent.{Version}.nupkg", $"Drover.Protocol.{Version}.nupkg" })
            {
                Assert.True(File.Exists(Path.Combine(Artifacts, package)), $"no {package} in {Artifacts}");
            }

            // Drover.* only from the artifacts; everything else (Microsoft.Extensions.Logging.Abstractions) from the
            // machine's package cache when it holds it, else from the usual feed.
            var cache = System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
                ? set
                : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            var cacheSource = System.IO.Directory.Exists(cache) ? $"""<add key="machine-cache" value="{cache}" />""" : string.Empty;
            var cacheMapping = cacheSource.Length > 0 ? """<packageSource key="machine-cache"><package pattern="*" /></packageSource>""" : string.Empty;
            System.IO.Directory.CreateDirectory(Samples);
            await File.WriteAllTextAsync(Path.Combine(Samples, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="drover-artifacts" value="{Artifacts}" />
                    {cacheSource}
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
                  </packageSources>
                  <packageSourceMapping>
                    <packageSource key="drover-artifacts"><package pattern="Drover.*" /><package pattern="drover" /></packageSource>
                    {cacheMapping}
                    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
                  </packageSourceMapping>
                </configuration>
                """);
        }

        public Task DisposeAsync()
        {
            TestPaths.DeleteDirectoryQuietly(Directory);
            return Task.CompletedTask;
        }
    }

    /// <summary>A child process with stdout and stderr captured together, a hard timeout, killed on dispose.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private Run(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public static Run Start(string file, IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string> environment)
        {
            var start = new ProcessStartInfo(file)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in args)
            {
                start.ArgumentList.Add(arg);
            }

            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }

            start.Environment.Remove("DROVER_TOKEN");
            return new Run(Process.Start(start)!);
        }

        /// <summary>Runs to the end; killed (and the test failed) after <paramref name="timeout"/>.</summary>
        public static async Task<(int ExitCode, string Output)> ToEndAsync(
            string file, IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
        {
            await using var run = Start(file, args, workingDirectory, environment);
            var exitCode = await run.WaitForExitAsync(timeout);
            return (exitCode, run.Output);
        }

        /// <summary>SIGTERM, as a service manager stops a process.</summary>
        public void Terminate()
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }

        public async Task<int> WaitForExitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{_process.StartInfo.FileName} {string.Join(' ', _process.StartInfo.ArgumentList)} did not end within {timeout}:\n{Output}");
            }

            _process.WaitForExit(); // the end of the redirected output
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }
    }
}
