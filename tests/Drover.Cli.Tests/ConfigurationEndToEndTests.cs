using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>`drover serve` and `drover agent` as child processes, configured by DROVER_* variables, drover.json and flags.</summary>
public sealed class ConfigurationEndToEndTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-config-e2e-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Data => Path.Combine(_dir, "data");

    /// <summary>A free port below the ephemeral range, so that no other test's port 0 takes it between this check and the hub's bind.</summary>
    private static int FreePort()
    {
        var ephemeralStart = File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
            ? int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture)
            : 32768;
        for (var attempt = 0; ; attempt++)
        {
            var port = Random.Shared.Next(Math.Max(1024, ephemeralStart - 12000), ephemeralStart);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException) when (attempt < 100)
            {
            }
        }
    }

    private void WriteJson(string json) => File.WriteAllText(Path.Combine(_dir, "drover.json"), json);

    /// <summary>Starts serve in the temp folder, waits until it listens, checks the API answers there, stops it with SIGTERM.</summary>
    private async Task<int> ServeAndReadHttpPortAsync(Dictionary<string, string>? environment, params string[] extra)
    {
        await using var serve = DroverProcess.StartIn(_dir, environment, ["serve", "--listen", "127.0.0.1:0", "--data", Data, .. extra]);
        var listening = await serve.WaitForLineAsync(@"HTTP API on (https?://127\.0\.0\.1:(\d+)/)");
        var port = int.Parse(listening.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        using var http = ApiClients.ForHub(listening.Groups[1].Value, Data);
        var stats = await http.GetStringAsync(new Uri("api/stats", UriKind.Relative));
        Assert.Contains("hubId", stats, StringComparison.Ordinal);
        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());
        return port;
    }

    [Fact]
    public async Task DROVER_HTTP_takes_effect()
    {
        var port = FreePort();
        Assert.Equal(port, await ServeAndReadHttpPortAsync(new() { ["DROVER_HTTP"] = $"127.0.0.1:{port}" }));
    }

    [Fact]
    public async Task Drover_json_in_the_working_directory_takes_effect()
    {
        var port = FreePort();
        WriteJson($$$"""{"hub": {"http": "127.0.0.1:{{{port}}}"}}""");
        Assert.Equal(port, await ServeAndReadHttpPortAsync(null));
    }

    [Fact]
    public async Task A_flag_beats_DROVER_variables_which_beat_the_file()
    {
        int filePort = FreePort(), environmentPort = FreePort(), flagPort = FreePort();
        WriteJson($$$"""{"hub": {"http": "127.0.0.1:{{{filePort}}}"}}""");
        var environment = new Dictionary<string, string> { ["DROVER_HTTP"] = $"127.0.0.1:{environmentPort}" };
        Assert.Equal(environmentPort, await ServeAndReadHttpPortAsync(environment));
        Assert.Equal(flagPort, await ServeAndReadHttpPortAsync(environment, "--http", $"127.0.0.1:{flagPort}"));
    }

    [Theory]
    [InlineData("env", "DROVER_HTTP=127.0.0.1:99999", "port 99999 is out of range")]
    [InlineData("json", "hub.interval=-5s in", "is negative")]
    [InlineData("flag", "--max-frame-size 10:", "max frame size must be between 1 KiB and 16 MiB")]
    public async Task An_invalid_value_stops_start_up_with_one_line_naming_the_setting_and_exit_2(string where, string naming, string reason)
    {
        Dictionary<string, string>? environment = null;
        string[] args = ["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data];
        switch (where)
        {
            case "env":
                environment = new() { ["DROVER_HTTP"] = "127.0.0.1:99999" };
                args = ["serve", "--listen", "127.0.0.1:0", "--data", Data];
                break;
            case "json":
                WriteJson("""{"hub": {"interval": "-5s"}}""");
                break;
            default:
                args = [.. args, "--max-frame-size", "10"];
                break;
        }

        var (exit, output, error) = await DroverProcess.RunInAsync(_dir, environment, args);
        Assert.Equal(2, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("drover serve: ", line, StringComparison.Ordinal);
        Assert.Contains(naming, line, StringComparison.Ordinal);
        Assert.Contains(reason, line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
        Assert.False(Directory.Exists(Data), "nothing was started");
    }

    /// <summary>Rules across settings are the options' own (HubOptions, AgentOptions), run by the host's options validation
    /// (IValidateOptions, ValidateOnStart) when it starts: the same one line naming the settings, the same exit code 2.</summary>
    [Theory]
    [InlineData("serve-flags", "--stale-after 2h and --retire-after 1h: retire age must be longer than the stale age")]
    [InlineData("serve-env", "DROVER_MAX_QUEUED_BYTES=512KiB: max queued bytes (524288) must be at least the max file size (1048576)")]
    [InlineData("agent-flags", "--backoff-cap 1s and --backoff-base 10s: backoff cap (00:00:01) must be at least the backoff base (00:00:10)")]
    public async Task A_rule_across_settings_stops_start_up_with_one_line_naming_the_settings_and_exit_2(string where, string expected)
    {
        Dictionary<string, string>? environment = null;
        string[] args = where switch
        {
            "serve-flags" => ["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data, "--stale-after", "2h", "--retire-after", "1h"],
            "serve-env" => ["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data],
            _ => ["agent", "--hub", "127.0.0.1:1", "--insecure", "--backoff-base", "10s", "--backoff-cap", "1s"],
        };
        if (where == "serve-env")
        {
            environment = new() { ["DROVER_MAX_QUEUED_BYTES"] = "512KiB" };
        }

        var (exit, output, error) = await DroverProcess.RunInAsync(_dir, environment, args);
        Assert.Equal(2, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"drover {args[0]}: {expected}", line, StringComparison.Ordinal);
        string[] named = where == "agent-flags" ? ["backoff-cap", "backoff-base"] : where == "serve-env" ? ["max-queued-bytes", "max-file-size"] : ["stale-after", "retire-after"];
        foreach (var setting in named)
        {
            Assert.Contains($"setting {setting}: --{setting}, DROVER_{setting.ToUpperInvariant().Replace('-', '_')} or", line, StringComparison.Ordinal);
        }

        Assert.Equal(string.Empty, output);
        Assert.False(Directory.Exists(Data), "nothing was started");
    }

    [Fact]
    public async Task Log_format_json_writes_one_json_object_per_line()
    {
        await using var serve = DroverProcess.StartIn(_dir, null, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data, "--log-format", "json");
        await serve.WaitForLineAsync("listening for agents on");
        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());
        var lines = serve.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 3, serve.Output);
        foreach (var line in lines)
        {
            using var entry = JsonDocument.Parse(line);
            Assert.False(string.IsNullOrEmpty(entry.RootElement.GetProperty("Category").GetString()), line);
            Assert.False(string.IsNullOrEmpty(entry.RootElement.GetProperty("Message").GetString()), line);
        }

        Assert.Contains(lines, line => line.Contains("\"Category\":\"Drover.Hub.DroverHub\"", StringComparison.Ordinal) && line.Contains("listening for agents", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_agent_reads_its_settings_from_DROVER_variables()
    {
        await using var serve = DroverProcess.StartIn(_dir, null, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data, "--interval", "2s", "--token", "s3cret");
        var listening = await serve.WaitForLineAsync(EndToEndTests.ServeListening);
        var api = listening.Groups[2].Value;
        await using var agent = DroverProcess.StartIn(_dir, new Dictionary<string, string>
        {
            ["DROVER_HUB"] = $"127.0.0.1:{listening.Groups[1].Value}",
            ["DROVER_TOKEN"] = "s3cret",
            ["DROVER_CA"] = Path.Combine(Data, "tls", "ca.pem"),
            ["DROVER_ID"] = "env-agent",
            ["DROVER_LABELS"] = "role=env,zone=x",
            ["DROVER_SYSTEM_METRICS"] = "false",
        }, "agent");
        await agent.WaitForLineAsync("env-agent connected to");

        var deadline = DateTime.UtcNow.AddSeconds(30);
        JsonElement found;
        while (true)
        {
            var (exit, output, error) = await DroverProcess.RunAsync("clients", "--json", "--api", api, "--ca", Path.Combine(Data, "tls", "ca.pem"));
            Assert.True(exit == 0, error);
            found = JsonDocument.Parse(output).RootElement.EnumerateArray().FirstOrDefault(a => a.GetProperty("id").GetString() == "env-agent");
            if (found.ValueKind == JsonValueKind.Object && found.GetProperty("status").ValueKind == JsonValueKind.Object)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"env-agent never reported: {output}");
            await Task.Delay(300);
        }

        Assert.Equal("env", found.GetProperty("labels").GetProperty("role").GetString());
        Assert.Equal("x", found.GetProperty("labels").GetProperty("zone").GetString());
        Assert.False(found.GetProperty("status").GetProperty("fields").TryGetProperty("load1", out _), "DROVER_SYSTEM_METRICS=false: no load average");
        agent.Terminate();
        Assert.Equal(0, await agent.WaitForExitAsync());
        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());
    }

    [Theory]
    [InlineData("serve", "default: 1000; env: DROVER_MAX_REPORTS_PER_SECOND; json: hub.max-reports-per-second")]
    [InlineData("serve", "default: 127.0.0.1:7401; env: DROVER_HTTP")]
    [InlineData("serve", "default: the machine name; env: DROVER_HUB_ID")]
    [InlineData("agent", "env: DROVER_HUB; json: agent.hub")]
    [InlineData("agent", "default: 30s; env: DROVER_BACKOFF_CAP")]
    public async Task Help_shows_the_defaults_and_the_environment_variables(string command, string expected)
    {
        var (exit, output, _) = await DroverProcess.RunAsync(command, "--help");
        Assert.Equal(0, exit);
        Assert.Contains(expected, output.ReplaceLineEndings(" "), StringComparison.Ordinal);
    }
}
