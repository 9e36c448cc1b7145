using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>`drover serve`, `drover agent` and `drover clients` as real child processes on 127.0.0.1.</summary>
public sealed class EndToEndTests : IDisposable
{
    internal const string ServeListening = @"listening for agents on 127\.0\.0\.1:(\d+); HTTP API on (https?://127\.0\.0\.1:\d+/)";
    private readonly string _data = Directory.CreateTempSubdirectory("drover-e2e-").FullName;

    /// <summary>The CA the hub made in its data directory on its first start, which the agents trust.</summary>
    private string CaFile => Path.Combine(_data, "tls", "ca.pem");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private DroverProcess StartServe(int agentPort = 0, string token = "t0k") => DroverProcess.Start(
        "serve", "--listen", $"127.0.0.1:{agentPort}", "--http", "127.0.0.1:0", "--data", _data, "--interval", "2s", "--token", token);

    private async Task<JsonElement[]> ClientsJsonAsync(string api, params string[] filters)
    {
        var (exit, output, error) = await DroverProcess.RunAsync(["clients", "--json", "--api", api, "--ca", CaFile, .. filters]);
        Assert.True(exit == 0, $"clients exited {exit}: {error}");
        return JsonDocument.Parse(output).RootElement.EnumerateArray().ToArray();
    }

    private async Task<JsonElement[]> WaitForClientsAsync(string api, Func<JsonElement[], bool> condition, params string[] filters)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var agents = await ClientsJsonAsync(api, filters);
            if (condition(agents))
            {
                return agents;
            }

            Assert.True(DateTime.UtcNow < deadline, $"clients never matched; last answer: {string.Join(", ", agents.Select(a => a.ToString()))}");
            await Task.Delay(300);
        }
    }

    private static string State(JsonElement[] agents, string id) =>
        agents.FirstOrDefault(a => a.GetProperty("id").GetString() == id) is { ValueKind: JsonValueKind.Object } agent ? agent.GetProperty("state").GetString()! : "absent";

    [Fact]
    public async Task Serve_agents_and_clients_work_together_and_stop_cleanly_on_ctrl_c()
    {
        await using var serve = StartServe();
        var listening = await serve.WaitForLineAsync(ServeListening);
        var hub = $"127.0.0.1:{listening.Groups[1].Value}";
        var api = listening.Groups[2].Value;

        await using var web = DroverProcess.Start(
            new Dictionary<string, string> { ["DROVER_TOKEN"] = "t0k" },
            "agent", "--hub", hub, "--ca", CaFile, "--id", "e2e-web", "--labels", "role=web,zone=eu", "--status-command", """echo '{"disk_free_gb": 42, "healthy": true}'""");
        await using var db = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "e2e-db", "--token", "t0k", "--labels", "role=db");
        await web.WaitForLineAsync("e2e-web connected to");
        await db.WaitForLineAsync("e2e-db connected to");

        var agents = await WaitForClientsAsync(api, a => a.Length == 2 && a.All(x => x.GetProperty("status").ValueKind == JsonValueKind.Object));
        var webAgent = agents.Single(a => a.GetProperty("id").GetString() == "e2e-web");
        Assert.Equal("online", webAgent.GetProperty("state").GetString());
        Assert.True(webAgent.GetProperty("lastSeen").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal("web", webAgent.GetProperty("labels").GetProperty("role").GetString());
        var fields = webAgent.GetProperty("status").GetProperty("fields");
        Assert.Equal(42, fields.GetProperty("disk_free_gb").GetInt64());
        Assert.True(fields.GetProperty("healthy").GetBoolean());
        Assert.True(fields.TryGetProperty("load1", out _), "load average is reported");

        var webOnly = await ClientsJsonAsync(api, "--state", "online", "--label", "role=web");
        Assert.Equal("e2e-web", Assert.Single(webOnly).GetProperty("id").GetString());

        db.Terminate();
        Assert.Equal(0, await db.WaitForExitAsync());
        Assert.Contains("said bye", db.Output, StringComparison.Ordinal);
        agents = await WaitForClientsAsync(api, a => State(a, "e2e-db") == "lost");
        Assert.Contains("bye", agents.Single(a => a.GetProperty("id").GetString() == "e2e-db").GetProperty("lastDisconnectReason").GetString(), StringComparison.Ordinal);

        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync());
        await web.WaitForLineAsync("e2e-web disconnected from");
    }

    [Fact]
    public async Task A_hub_killed_mid_session_restarts_on_its_data_and_the_agents_come_back()
    {
        var serve = StartServe();
        var listening = await serve.WaitForLineAsync(ServeListening);
        var port = int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var hub = $"127.0.0.1:{port}";

        await using var first = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "e2e-one", "--token", "t0k");
        await using var second = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "e2e-two", "--token", "t0k");
        await first.WaitForLineAsync("e2e-one connected to");
        await second.WaitForLineAsync("e2e-two connected to");

        serve.KillHard();
        await serve.WaitForExitAsync();
        await serve.DisposeAsync();
        await first.WaitForLineAsync("e2e-one disconnected from");

        await using var restarted = StartServe(port);
        var api = (await restarted.WaitForLineAsync(ServeListening)).Groups[2].Value;
        await restarted.WaitForLineAsync("Loaded 2 agents from the store");
        await WaitForClientsAsync(api, a => State(a, "e2e-one") == "online" && State(a, "e2e-two") == "online" && a.All(x => x.GetProperty("connected").GetBoolean()));
        Assert.Matches(@"e2e-one connected to[\s\S]*e2e-one connected to", first.Output);
    }

    [Fact]
    public async Task An_agent_with_the_wrong_token_exits_1_with_a_clear_reason()
    {
        await using var serve = StartServe();
        var hub = $"127.0.0.1:{(await serve.WaitForLineAsync(ServeListening)).Groups[1].Value}";
        await using var agent = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "e2e-intruder", "--token", "wrong");
        Assert.Equal(1, await agent.WaitForExitAsync());
        Assert.Contains("AuthenticationFailed", agent.Output, StringComparison.Ordinal);
        Assert.Contains("token", agent.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve", "--listen", "nonsense")]
    [InlineData("serve", "--interval", "soon")]
    [InlineData("serve", "--stale-after", "2d", "--retire-after", "1d")]
    [InlineData("agent")]
    [InlineData("agent", "--hub", "127.0.0.1:7400", "--labels", "novalue")]
    [InlineData("agent", "--hub", "127.0.0.1:7400", "--id", "bad id")]
    [InlineData("clients", "--api", "ftp://example")]
    [InlineData("demo", "--agents", "0")]
    [InlineData("demo", "--duration", "forever")]
    [InlineData("demo", "--jobs-per-second", "-1")]
    [InlineData("demo", "--slots", "0")]
    public async Task Wrong_flags_get_a_clear_message_and_exit_2(params string[] args)
    {
        var (exit, output, error) = await DroverProcess.RunAsync(args);
        Assert.Equal(2, exit);
        Assert.False(string.IsNullOrWhiteSpace(error), $"no message on stderr; stdout: {output}");
        Assert.DoesNotContain("Unhandled exception", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clients_says_clearly_when_the_hub_is_not_there()
    {
        var (exit, _, error) = await DroverProcess.RunAsync("clients", "--api", "http://127.0.0.1:9");
        Assert.Equal(1, exit);
        Assert.Contains("cannot reach the hub API", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_runs_a_small_fleet_sends_it_jobs_and_stops_by_itself()
    {
        var (exit, output, error) = await DroverProcess.RunAsync("demo", "--agents", "100", "--duration", "6s", "--http", "127.0.0.1:0", "--jobs-per-second", "100");
        Assert.True(exit == 0, $"demo exited {exit}: {error}");
        Assert.Contains("reports recorded", output, StringComparison.Ordinal);
        Assert.Matches(@"online\s+100 late\s+0 lost\s+0", output);
        Assert.Matches(@"jobs sent\s+[\d,]+\s+running\s+\d+\s+done\s+[\d,]+\s+dead\s+\d+\s+jobs/s\s+\d", output);
        Assert.Matches(@"result j-[0-9A-Z]{26}\s+demo-\d{5}\s+done\s+exit 0\s+\d+ lines, \d+ words, \d+ bytes", output);

        static long Figure(string output, string name) =>
            long.Parse(Regex.Match(output, $@"{name}\s+([\d,]+)").Groups[1].Value.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        var submitted = Figure(output, "jobs submitted");
        Assert.True(submitted >= 100, $"only {submitted} jobs sent in about 3 s at 100 a second:\n{output}");
        Assert.True(Figure(output, "jobs done") >= submitted * 9 / 10, output);
        Assert.Equal(submitted, Figure(output, "jobs done") + Figure(output, "jobs dead"));
        Assert.Equal(0, Figure(output, "jobs left queued or running"));
        Assert.Equal(0, Figure(output, "jobs lost"));
    }
}
