using System.Net;
using System.Text.Json;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>Issue 10's id takeover, fixed by agent keys (trust on first use): an id bound to one agent's key cannot be taken
/// by a second connection with the shared token but another key (or none), and the first agent's session is untouched; the
/// same key takes over as before; bindings survive a restart; an operator can forget one. Raw clients over real sockets.</summary>
public sealed class AgentKeyTests
{
    private const string Token = "shared";

    private static Hello HelloWithKey(string id, string key) => RawProtocolClient.MakeHello(id, Token) with { AgentKey = key };

    [Fact]
    public async Task A_second_connection_with_the_token_but_another_key_is_refused_and_the_victims_session_is_untouched()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { Token = Token });
        await using var victim = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await victim.HandshakeAsync(HelloWithKey("ctl-1", "victim-key-0123456789")));

        foreach (var impostorKey in new[] { "impostor-key-0123456789", string.Empty })
        {
            await using var impostor = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            var refuse = Assert.IsType<Refuse>(await impostor.HandshakeAsync(HelloWithKey("ctl-1", impostorKey)));
            Assert.Equal(ErrorCode.AgentKeyMismatch, refuse.Code);
            Assert.Contains("ctl-1", refuse.Reason, StringComparison.Ordinal);
        }

        // The victim still reports on its session, which was never replaced.
        await victim.SendAsync(RawProtocolClient.MakeStatus(1));
        Assert.Equal(1UL, (await victim.ReceiveAsync<StatusAck>()).Sequence);
        Assert.True(fixture.Hub.Registry.TryGet("ctl-1", out var entry) && entry.Session is not null);

        using var http = fixture.CreateApiClient();
        using var stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/stats", UriKind.Relative)));
        Assert.Equal(1, stats.RootElement.GetProperty("access").GetProperty("agentKeysBound").GetInt32());
        Assert.Equal(2, stats.RootElement.GetProperty("access").GetProperty("agentKeyMismatches").GetInt64());

        // The same key takes the session over (a reconnect), as before.
        await using var again = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await again.HandshakeAsync(HelloWithKey("ctl-1", "victim-key-0123456789")));
        Assert.Equal(ErrorCode.SessionReplaced, (await victim.ReceiveAsync<Bye>()).Code);
    }

    [Fact]
    public async Task An_agent_without_a_key_connects_as_before_until_one_binds_its_id()
    {
        await using var fixture = await HubFixture.StartAsync();
        await using (var legacy = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint))
        {
            Assert.IsType<Welcome>(await legacy.HandshakeAsync(RawProtocolClient.MakeHello("old-agent")));
        }

        await using var keyed = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await keyed.HandshakeAsync(RawProtocolClient.MakeHello("old-agent") with { AgentKey = "now-with-a-key-0123" }));
        await using var legacyAgain = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.Equal(ErrorCode.AgentKeyMismatch, Assert.IsType<Refuse>(await legacyAgain.HandshakeAsync(RawProtocolClient.MakeHello("old-agent"))).Code);
    }

    [Fact]
    public async Task Bindings_survive_a_restart_and_an_operator_can_forget_one()
    {
        var directory = HubFixture.NewDataDirectory();
        try
        {
            await using (var fixture = await HubFixture.StartAsync(dataDirectory: directory))
            {
                await using var first = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
                Assert.IsType<Welcome>(await first.HandshakeAsync(RawProtocolClient.MakeHello("edge-7") with { AgentKey = "first-key-0123456789" }));
            }

            await using var restarted = await HubFixture.StartAsync(dataDirectory: directory);
            await using (var other = await RawProtocolClient.ConnectAsync(restarted.AgentEndPoint))
            {
                Assert.Equal(ErrorCode.AgentKeyMismatch, Assert.IsType<Refuse>(await other.HandshakeAsync(RawProtocolClient.MakeHello("edge-7") with { AgentKey = "second-key-0123456789" })).Code);
            }

            using var http = restarted.CreateApiClient();
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync(new Uri("/api/agents/edge-7/key", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync(new Uri("/api/agents/edge-7/key", UriKind.Relative))).StatusCode);
            using (var submitOnly = restarted.CreateApiClient(await restarted.Hub.CreateApiTokenAsync(Security.ApiScope.Submit, "ops")))
            {
                Assert.Equal(HttpStatusCode.Forbidden, (await submitOnly.DeleteAsync(new Uri("/api/agents/edge-7/key", UriKind.Relative))).StatusCode);
            }

            await using (var moved = await RawProtocolClient.ConnectAsync(restarted.AgentEndPoint))
            {
                Assert.IsType<Welcome>(await moved.HandshakeAsync(RawProtocolClient.MakeHello("edge-7") with { AgentKey = "second-key-0123456789" }));
            }

            using var audit = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/audit", UriKind.Relative)));
            Assert.Contains(audit.RootElement.GetProperty("items").EnumerateArray(), e => e.GetProperty("action").GetString() == "agent.forget-key" && e.GetProperty("target").GetString() == "edge-7");
        }
        finally
        {
            TestPaths.DeleteDirectoryQuietly(directory);
        }
    }
}
