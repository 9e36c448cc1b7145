using System.Text.Json;
using Drover.Api;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>The operator's side of API access (issue 10) as a user meets it: a real <c>drover serve</c> with its default
/// HTTPS API and bootstrap token, and the CLI as child processes.</summary>
public sealed class ApiAccessCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-access-").FullName;
    private DroverProcess? _serve;
    private string _api = string.Empty;

    private string Data => Path.Combine(_dir, "hub");

    private string CaFile => Path.Combine(Data, "tls", "ca.pem");

    private string AdminTokenFile => Path.Combine(Data, "admin.token");

    public async Task InitializeAsync()
    {
        // No provisioned token: only the bootstrap one in DATA/admin.token.
        _serve = DroverProcess.Start(new Dictionary<string, string> { ["DROVER_ADMIN_TOKEN"] = string.Empty }, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", Data);
        _api = (await _serve.WaitForLineAsync(EndToEndTests.ServeListening)).Groups[2].Value;
        Assert.StartsWith("https://", _api, StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        await _serve!.DisposeAsync();
        TestPaths.DeleteDirectoryQuietly(_dir);
    }

    /// <summary>A CLI command with no token from the suite's environment: only what <paramref name="token"/> says.</summary>
    private Task<(int ExitCode, string Output, string Error)> CliAsync(string? token, params string[] args) =>
        DroverProcess.RunInAsync(null, new Dictionary<string, string> { ["DROVER_API_TOKEN"] = token ?? string.Empty }, [.. args, "--api", _api]);

    [Fact]
    public async Task The_CLI_needs_the_hubs_CA_and_a_token_and_says_which_is_missing()
    {
        // clients keeps its older exit codes: 1 when the hub cannot be reached (or trusted), 2 when it answers an error.
        var (exit, _, error) = await CliAsync(null, "clients", "--api-token-file", AdminTokenFile);
        Assert.Equal(1, exit);
        Assert.Contains("not trusted", error, StringComparison.Ordinal);
        Assert.Contains("--ca", error, StringComparison.Ordinal);

        (exit, _, error) = await CliAsync(null, "clients", "--ca", CaFile);
        Assert.Equal(2, exit);
        Assert.Contains("401", error, StringComparison.Ordinal);
        Assert.Contains("admin.token", error, StringComparison.Ordinal);

        (exit, var output, error) = await CliAsync(null, "clients", "--ca", CaFile, "--api-token-file", AdminTokenFile);
        Assert.True(exit == 0, error);
        Assert.StartsWith("ID ", output, StringComparison.Ordinal); // the table's header (plain rows: the output is a pipe)

        (exit, _, error) = await CliAsync(null, "clients", "--ca", CaFile, "--api-token-file", Path.Combine(_dir, "missing"));
        Assert.Equal(2, exit);
        Assert.Contains("--api-token-file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokens_are_made_used_listed_revoked_and_audited_from_the_CLI()
    {
        var admin = File.ReadAllText(AdminTokenFile).Trim();
        var (exit, output, error) = await CliAsync(admin, "tokens", "create", "--scope", "read", "--name", "dashboard", "--ttl", "1h", "--ca", CaFile);
        Assert.True(exit == 0, error);
        var read = output.Trim();
        Assert.True(ApiTokenText.TryParse(read, out var readId, out _), output);
        Assert.Contains("not shown again", error, StringComparison.Ordinal);

        (exit, _, error) = await CliAsync(read, "clients", "--ca", CaFile);
        Assert.True(exit == 0, error);
        var file = Path.Combine(_dir, "f.txt");
        await File.WriteAllTextAsync(file, "x");
        (exit, _, error) = await CliAsync(read, "send", file, "--ca", CaFile);
        Assert.Equal(3, exit);
        Assert.Contains("has scope read; this needs submit", error, StringComparison.Ordinal);
        (exit, _, error) = await CliAsync(read, "tokens", "list", "--ca", CaFile);
        Assert.Equal(3, exit);
        Assert.Contains("this needs admin", error, StringComparison.Ordinal);

        (exit, output, error) = await CliAsync(admin, "tokens", "list", "--json", "--ca", CaFile);
        Assert.True(exit == 0, error);
        var list = JsonSerializer.Deserialize(output, ApiJsonContext.Default.TokenList)!;
        Assert.Equal(["bootstrap", "dashboard"], list.Items.Select(t => t.Name));
        Assert.DoesNotContain(read, output, StringComparison.Ordinal);

        (exit, output, error) = await CliAsync(admin, "tokens", "revoke", readId, "--ca", CaFile);
        Assert.True(exit == 0, error);
        Assert.Contains($"revoked {readId}", output, StringComparison.Ordinal);
        (exit, _, error) = await CliAsync(read, "clients", "--ca", CaFile);
        Assert.Equal(2, exit);
        Assert.Contains("is revoked", error, StringComparison.Ordinal);

        (exit, output, error) = await CliAsync(admin, "audit", "--json", "--ca", CaFile);
        Assert.True(exit == 0, error);
        var entries = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["token.create", "token.revoke"], entries.Select(e => e.GetProperty("action").GetString()));
        Assert.All(entries, e => Assert.Equal(readId, e.GetProperty("target").GetString()));
        Assert.All(entries, e => Assert.Contains("(bootstrap)", e.GetProperty("actor").GetString()!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_CLI_can_pin_the_hubs_key_instead_of_its_CA()
    {
        var hello = await _serve!.WaitForLineAsync(@"--hub-fingerprint ([0-9A-F:]{95})");
        var (exit, _, error) = await CliAsync(File.ReadAllText(AdminTokenFile).Trim(), "clients", "--hub-fingerprint", hello.Groups[1].Value);
        Assert.True(exit == 0, error);
        (exit, _, error) = await CliAsync(File.ReadAllText(AdminTokenFile).Trim(), "clients", "--hub-fingerprint", string.Join(':', Enumerable.Repeat("00", 32)));
        Assert.Equal(1, exit);
        Assert.Contains("not trusted", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_prints_a_token_that_serve_takes_as_its_admin_token()
    {
        var (exit, output, error) = await DroverProcess.RunAsync("tokens", "generate");
        Assert.True(exit == 0, error);
        Assert.True(ApiTokenText.TryParse(output.Trim(), out _, out _), output);

        (exit, _, error) = await DroverProcess.RunInAsync(null, new Dictionary<string, string> { ["DROVER_ADMIN_TOKEN"] = "hunter2" }, "serve", "--listen", "127.0.0.1:0", "--http", "off", "--data", Path.Combine(_dir, "other"));
        Assert.Equal(2, exit);
        Assert.Contains("DROVER_ADMIN_TOKEN", error, StringComparison.Ordinal);
        Assert.Contains("not a Drover API token", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_agent_claiming_a_bound_id_exits_1_until_an_operator_forgets_the_binding()
    {
        var hub = $"127.0.0.1:{(await _serve!.WaitForLineAsync(EndToEndTests.ServeListening)).Groups[1].Value}";
        var (created, join, createError) = await CliAsync(File.ReadAllText(AdminTokenFile).Trim(), "tokens", "create", "--join", "--ca", CaFile);
        Assert.True(created == 0, createError);
        string[] agentArgs = ["agent", "--hub", hub, "--ca", CaFile, "--id", "twin", "--token", join.Trim()];
        await using var first = DroverProcess.Start([.. agentArgs, "--state-dir", Path.Combine(_dir, "first")]);
        await first.WaitForLineAsync("twin connected to");
        Assert.True(File.Exists(Path.Combine(_dir, "first", Drover.Agent.AgentIdentity.KeyFileName)));

        // Another machine (another state directory, so another key) with the same id: refused, and it stops.
        await using (var second = DroverProcess.Start([.. agentArgs, "--state-dir", Path.Combine(_dir, "second")]))
        {
            Assert.Equal(1, await second.WaitForExitAsync());
            Assert.Contains("AgentKeyMismatch", second.Output, StringComparison.Ordinal);
            Assert.Contains("drover agents forget-key twin", second.Output, StringComparison.Ordinal);
        }

        first.Terminate();
        Assert.Equal(0, await first.WaitForExitAsync());
        var (exit, output, error) = await CliAsync(File.ReadAllText(AdminTokenFile).Trim(), "agents", "forget-key", "twin", "--ca", CaFile);
        Assert.True(exit == 0, error);
        Assert.Contains("no longer bound", output, StringComparison.Ordinal);
        await using var moved = DroverProcess.Start([.. agentArgs, "--state-dir", Path.Combine(_dir, "second")]);
        await moved.WaitForLineAsync("twin connected to");
    }

    [Fact]
    public async Task An_agent_enrolls_with_a_hold_join_token_waits_for_approval_and_stops_when_revoked()
    {
        var hub = $"127.0.0.1:{(await _serve!.WaitForLineAsync(EndToEndTests.ServeListening)).Groups[1].Value}";
        var admin = File.ReadAllText(AdminTokenFile).Trim();

        // Without a credential the default hub refuses the agent, for good.
        await using (var stranger = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "stranger", "--state-dir", Path.Combine(_dir, "stranger")))
        {
            Assert.Equal(1, await stranger.WaitForExitAsync());
            Assert.Contains("drover tokens create --join", stranger.Output, StringComparison.Ordinal);
        }

        var (exit, join, error) = await CliAsync(admin, "tokens", "create", "--hold", "--uses", "1", "--labels", "pool=build", "--ca", CaFile);
        Assert.True(exit == 0, error);
        Assert.Contains("join", error, StringComparison.Ordinal);
        await using var agent = DroverProcess.Start("agent", "--hub", hub, "--ca", CaFile, "--id", "build-1", "--token", join.Trim(), "--state-dir", Path.Combine(_dir, "build-1"));
        await agent.WaitForLineAsync("PendingApproval");

        (exit, var output, error) = await CliAsync(admin, "agents", "pending", "--json", "--ca", CaFile);
        Assert.True(exit == 0, error);
        var pending = Assert.Single(JsonSerializer.Deserialize(output, ApiJsonContext.Default.AgentCredentialList)!.Items);
        Assert.Equal(("build-1", "pending", "build"), (pending.AgentId, pending.State, pending.Labels!["pool"]));
        (exit, output, error) = await CliAsync(admin, "agents", "approve", "build-1", "--ca", CaFile);
        Assert.True(exit == 0, error);
        Assert.Contains("build-1: approved", output, StringComparison.Ordinal);
        await agent.WaitForLineAsync("build-1 connected to");

        // Revoked: the session ends at once and the agent stops, saying why.
        (exit, _, error) = await CliAsync(admin, "agents", "revoke", "build-1", "--ca", CaFile);
        Assert.True(exit == 0, error);
        Assert.Equal(1, await agent.WaitForExitAsync());
        Assert.Contains("CredentialRevoked", agent.Output, StringComparison.Ordinal);
        (exit, output, _) = await CliAsync(admin, "audit", "--ca", CaFile);
        Assert.Equal(0, exit);
        Assert.Contains("agent.approve", output, StringComparison.Ordinal);
        Assert.Contains("agent.revoke", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_insecure_hub_refuses_to_serve_its_API_beyond_loopback()
    {
        var (exit, output, error) = await DroverProcess.RunAsync("serve", "--insecure", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--data", Path.Combine(_dir, "open"));
        Assert.Equal(2, exit);
        Assert.Contains("beyond loopback", error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
        Assert.DoesNotContain("listening", output, StringComparison.Ordinal);
    }
}
