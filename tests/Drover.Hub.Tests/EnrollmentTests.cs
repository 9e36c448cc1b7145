using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Issue 10's enrollment: a hub without a shared token and without open agents lets in only agents with a
/// credential. A join token enrolls an agent's own key (approved, or pending for an operator), within its lifetime and
/// uses; from then on the key alone is the credential; an operator approves, rejects and revokes (a revoked agent is
/// disconnected at once); another agent's id with its own credential is refused and the victim's session is untouched.
/// Raw clients over real sockets, a real SQLite store, the API with real tokens.</summary>
public sealed class EnrollmentTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static Task<HubFixture> StartAsync(FakeTimeProvider? time = null, string? directory = null) =>
        HubFixture.StartAsync(o => time is null ? o with { OpenAgents = false } : o with { OpenAgents = false, TimeProvider = time }, directory);

    private static Hello Hello(string id, string credential, string key) => RawProtocolClient.MakeHello(id, credential) with { AgentKey = key };

    private static async Task<Message> HelloAsync(HubFixture fixture, Hello hello)
    {
        await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        return await client.HandshakeAsync(hello);
    }

    private static async Task<TokenCreated> CreateJoinTokenAsync(HubFixture fixture, string query)
    {
        using var http = fixture.CreateApiClient();
        using var response = await http.PostAsync(new Uri("/api/tokens?scope=join&" + query, UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.TokenCreated))!;
    }

    [Fact]
    public async Task Without_a_credential_an_agent_is_refused_and_a_join_token_enrolls_its_key_which_is_its_credential_from_then_on()
    {
        await using var fixture = await StartAsync();
        var refused = Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("edge-1", string.Empty, "edge-1-key-0123456789")));
        Assert.Equal(ErrorCode.AuthenticationFailed, refused.Code);
        Assert.Contains("join token", refused.Reason, StringComparison.Ordinal);

        // An API token is not a join token, and a join token needs the agent's key.
        Assert.Equal(ErrorCode.AuthenticationFailed, Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("edge-1", HubFixture.AdminToken, "edge-1-key-0123456789"))).Code);
        var join = await CreateJoinTokenAsync(fixture, "name=edge&label=pool%3Dedge&label=zone%3Dlab");
        Assert.Equal(("join", "auto", null), (join.Token.Kind, join.Token.Approval, join.Token.UsesLeft));
        Assert.Contains("key", Assert.IsType<Refuse>(await HelloAsync(fixture, RawProtocolClient.MakeHello("edge-1", join.Secret))).Reason, StringComparison.Ordinal);

        // Enrolled: the token's labels override the agent's own; the binding is stored before the welcome.
        await using (var agent = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint))
        {
            var hello = Hello("edge-1", join.Secret, "edge-1-key-0123456789") with { Labels = new Dictionary<string, string> { ["zone"] = "claimed", ["os"] = "linux" } };
            Assert.IsType<Welcome>(await agent.HandshakeAsync(hello));
            Assert.True(fixture.Hub.Registry.TryGet("edge-1", out var entry));
            Assert.Equal(("edge", "lab", "linux"), (entry.Labels["pool"], entry.Labels["zone"], entry.Labels["os"]));
        }

        var stored = Assert.Single(await fixture.AccessStore.ListAgentKeysAsync(CancellationToken.None));
        Assert.Equal(("edge-1", "approved", join.Token.Id), (stored.AgentId, stored.State, stored.TokenId));

        // The key alone lets it back in (the join token may be gone); the join token cannot enroll the same id with another key.
        using (var http = fixture.CreateApiClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await http.DeleteAsync(new Uri($"/api/tokens/{join.Token.Id}", UriKind.Relative))).StatusCode);
        }

        Assert.IsType<Welcome>(await HelloAsync(fixture, Hello("edge-1", string.Empty, "edge-1-key-0123456789")));
        Assert.Equal(ErrorCode.AgentKeyMismatch, Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("edge-1", join.Secret, "someone-elses-key-012345"))).Code);
        Assert.Contains("revoked", Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("edge-2", join.Secret, "edge-2-key-0123456789"))).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_join_token_lets_in_as_many_agents_as_its_uses_and_none_after_its_lifetime_and_the_count_survives_a_restart()
    {
        var time = new FakeTimeProvider(Start);
        var directory = HubFixture.NewDataDirectory();
        try
        {
            string secret;
            await using (var fixture = await StartAsync(time, directory))
            {
                var join = await CreateJoinTokenAsync(fixture, "uses=3&ttl=1h");
                secret = join.Secret;
                Assert.Equal((3, Start + TimeSpan.FromHours(1)), (join.Token.UsesLeft!.Value, join.Token.ExpiresAt!.Value));
                for (var i = 0; i < 2; i++)
                {
                    Assert.IsType<Welcome>(await HelloAsync(fixture, Hello($"node-{i}", secret, $"node-{i}-key-0123456789")));
                }
            }

            // One use left after a restart: the count is stored with each enrollment.
            await using var restarted = await StartAsync(time, directory);
            Assert.IsType<Welcome>(await HelloAsync(restarted, Hello("node-2", secret, "node-2-key-0123456789")));
            var usedUp = Assert.IsType<Refuse>(await HelloAsync(restarted, Hello("node-3", secret, "node-3-key-0123456789")));
            Assert.Equal(ErrorCode.AuthenticationFailed, usedUp.Code);
            Assert.Contains("used up", usedUp.Reason, StringComparison.Ordinal);
            var stored = (await restarted.AccessStore.ListTokensAsync(CancellationToken.None)).Single(t => t.Kind == "join");
            Assert.Equal(0, stored.UsesLeft);

            // A second token, expired: refused; the enrolled agents come back with their keys whatever became of the token.
            var later = await CreateJoinTokenAsync(restarted, "ttl=1h");
            time.Advance(TimeSpan.FromHours(1));
            var expired = Assert.IsType<Refuse>(await HelloAsync(restarted, Hello("node-4", later.Secret, "node-4-key-0123456789")));
            Assert.Contains("expired", expired.Reason, StringComparison.Ordinal);
            Assert.IsType<Welcome>(await HelloAsync(restarted, Hello("node-0", secret, "node-0-key-0123456789")));
        }
        finally
        {
            TestPaths.DeleteDirectoryQuietly(directory);
        }
    }

    [Fact]
    public async Task A_hold_token_queues_agents_for_an_operator_who_approves_one_and_rejects_another()
    {
        await using var fixture = await StartAsync();
        var join = await CreateJoinTokenAsync(fixture, "approval=hold");
        foreach (var id in new[] { "gpu-1", "gpu-2" })
        {
            var pending = Assert.IsType<Refuse>(await HelloAsync(fixture, Hello(id, join.Secret, $"{id}-key-0123456789")));
            Assert.Equal((ErrorCode.PendingApproval, 10_000u), (pending.Code, pending.RetryAfterMs));
        }

        // Still pending at the retry, with the key alone.
        Assert.Equal(ErrorCode.PendingApproval, Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("gpu-1", string.Empty, "gpu-1-key-0123456789"))).Code);

        using var http = fixture.CreateApiClient();
        var list = (await http.GetFromJsonAsync(new Uri("/api/agent-credentials?state=pending", UriKind.Relative), ApiJsonContext.Default.AgentCredentialList))!;
        Assert.Equal(["gpu-1", "gpu-2"], list.Items.Select(c => c.AgentId));

        // Only an admin decides: a submit token gets 403.
        var submitToken = await fixture.Hub.CreateApiTokenAsync(Drover.Hub.Security.ApiScope.Submit, "ci");
        using (var submitter = fixture.CreateApiClient(submitToken))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await submitter.PostAsync(new Uri("/api/agents/gpu-1/approve", UriKind.Relative), null)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(new Uri("/api/agents/gpu-1/approve", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(new Uri("/api/agents/gpu-2/reject", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync(new Uri("/api/agents/gpu-2/approve", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync(new Uri("/api/agents/nobody/approve", UriKind.Relative), null)).StatusCode);

        Assert.IsType<Welcome>(await HelloAsync(fixture, Hello("gpu-1", string.Empty, "gpu-1-key-0123456789")));
        Assert.Equal(ErrorCode.CredentialRevoked, Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("gpu-2", join.Secret, "gpu-2-key-0123456789"))).Code);

        var audit = (await http.GetFromJsonAsync(new Uri("/api/audit", UriKind.Relative), ApiJsonContext.Default.AuditPage))!;
        Assert.Equal(["token.create", "agent.approve", "agent.reject"], audit.Items.Select(e => e.Action));

        // Each decision is an event of the agent too (written with the next status flush), a rejected one included.
        foreach (var (id, state) in new[] { ("gpu-1", "approved"), ("gpu-2", "rejected") })
        {
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (!(await http.GetFromJsonAsync(new Uri($"/api/agents/{id}/events", UriKind.Relative), ApiJsonContext.Default.AgentEventPage))!
                .Items.Any(e => e.Kind == Drover.Storage.AgentEventKinds.Credential && e.Reason == state))
            {
                Assert.True(DateTime.UtcNow < deadline, $"no {state} credential event of {id}");
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task A_revoked_agent_is_disconnected_within_a_second_and_refused_after_while_others_keep_reporting()
    {
        await using var fixture = await StartAsync();
        var join = await CreateJoinTokenAsync(fixture, "uses=2");
        await using var revoked = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await revoked.HandshakeAsync(Hello("lost-laptop", join.Secret, "laptop-key-0123456789")));
        await using var other = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await other.HandshakeAsync(Hello("desk-1", join.Secret, "desk-key-0123456789")));

        using var http = fixture.CreateApiClient();
        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(new Uri("/api/agents/lost-laptop/revoke", UriKind.Relative), null)).StatusCode);
        var bye = await revoked.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.CredentialRevoked, bye.Code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"bye after {clock.Elapsed}");

        var again = Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("lost-laptop", string.Empty, "laptop-key-0123456789")));
        Assert.Equal(ErrorCode.CredentialRevoked, again.Code);
        Assert.Contains("forget-key", again.Reason, StringComparison.Ordinal);

        await other.SendAsync(RawProtocolClient.MakeStatus(1));
        Assert.Equal(1UL, (await other.ReceiveAsync<StatusAck>()).Sequence);

        // Forgotten, the id can enroll again (with a new token: this one is used up).
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync(new Uri("/api/agents/lost-laptop/key", UriKind.Relative))).StatusCode);
        var fresh = await CreateJoinTokenAsync(fixture, "uses=1");
        Assert.IsType<Welcome>(await HelloAsync(fixture, Hello("lost-laptop", fresh.Secret, "new-laptop-key-0123456789")));
        using var stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/agent-credentials?state=revoked", UriKind.Relative)));
        Assert.Equal(0, stats.RootElement.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Another_agents_id_with_its_own_credential_is_refused_and_the_victims_session_is_untouched()
    {
        await using var fixture = await StartAsync();
        var join = await CreateJoinTokenAsync(fixture, string.Empty);
        await using var victim = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await victim.HandshakeAsync(Hello("db-1", join.Secret, "db-1-key-0123456789")));
        Assert.IsType<Welcome>(await HelloAsync(fixture, Hello("web-1", join.Secret, "web-1-key-0123456789")));

        // web-1's own, valid key (and the join token) do not make it db-1.
        var refuse = Assert.IsType<Refuse>(await HelloAsync(fixture, Hello("db-1", join.Secret, "web-1-key-0123456789")));
        Assert.Equal(ErrorCode.AgentKeyMismatch, refuse.Code);
        await victim.SendAsync(RawProtocolClient.MakeStatus(7));
        Assert.Equal(7UL, (await victim.ReceiveAsync<StatusAck>()).Sequence);
        Assert.True(fixture.Hub.Registry.TryGet("db-1", out var entry) && entry.Session is not null);

        // The same credential takes the session over (a reconnect), as before.
        await using var again = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await again.HandshakeAsync(Hello("db-1", string.Empty, "db-1-key-0123456789")));
        Assert.Equal(ErrorCode.SessionReplaced, (await victim.ReceiveAsync<Bye>()).Code);
    }

    [Fact]
    public void Open_agents_and_a_shared_token_cannot_go_together()
    {
        var errors = new HubOptions { OpenAgents = true, Token = "t" }.GetValidationErrors();
        Assert.Contains(errors, e => e.MemberNames.Contains(nameof(HubOptions.OpenAgents)));
        Assert.DoesNotContain(new HubOptions { OpenAgents = true }.GetValidationErrors(), e => e.MemberNames.Contains(nameof(HubOptions.OpenAgents)));
    }
}
