using System.Net;
using Drover.Agent;
using Drover.Hub.Security;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The agent port with TLS, end to end over loopback: a real hub with its own CA and a real agent. An agent
/// connects only to a hub it trusts, and sends nothing to one it does not; a client that does not speak TLS is
/// closed without a session and the hub goes on serving.</summary>
public sealed class HubTlsTests : IDisposable
{
    private readonly string _tlsDirectory = Directory.CreateTempSubdirectory("drover-hub-tls-").FullName;
    private readonly HubTlsIdentity _identity;

    public HubTlsTests() => _identity = HubTlsIdentity.LoadOrCreate(_tlsDirectory, [], TimeProvider.System);

    public void Dispose()
    {
        _identity.Dispose();
        Directory.Delete(_tlsDirectory, recursive: true);
    }

    [Fact]
    public async Task An_agent_that_trusts_the_hubs_CA_or_pins_its_key_registers_and_reports()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { Tls = _identity, ReportInterval = TimeSpan.FromSeconds(1) });

        await using var byCa = new DroverAgent(Agent("by-ca", fixture.AgentEndPoint, HubTrust.FromAuthorityFile(_identity.TrustAnchorPath!)));
        await using var byKey = new DroverAgent(Agent("by-key", fixture.AgentEndPoint, HubTrust.FromKeyFingerprint(_identity.Fingerprint)));
        using var stop = new CancellationTokenSource();
        var runs = new[] { byCa.RunAsync(stop.Token), byKey.RunAsync(stop.Token) };

        await HubFixture.WaitUntilAsync(() => byCa.ReportsAcked >= 2 && byKey.ReportsAcked >= 2, because: "both agents report over TLS");
        Assert.Equal(2, fixture.Hub.ConnectedAgents);

        await stop.CancelAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15));
        await HubFixture.WaitUntilAsync(() => fixture.Hub.ConnectedAgents == 0, because: "the agents said bye over TLS");
        Assert.All(fixture.Hub.Registry.Entries, e => Assert.StartsWith($"{DisconnectReason.AgentClosed}: agent said bye", e.LastDisconnectReason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Agents_that_reconnect_resume_their_TLS_session_and_report_on()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { Tls = _identity, ReportInterval = TimeSpan.FromSeconds(1) });
        var trust = HubTrust.FromKeyFingerprint(_identity.Fingerprint);

        // Rounds of agents that connect, report and leave: the later rounds resume the TLS sessions of the earlier.
        for (var round = 0; round < 3; round++)
        {
            var agents = Enumerable.Range(0, 10).Select(i => new DroverAgent(Agent($"resume-{round}-{i}", fixture.AgentEndPoint, trust))).ToList();
            using var stop = new CancellationTokenSource();
            var runs = agents.Select(a => a.RunAsync(stop.Token)).ToList();
            await HubFixture.WaitUntilAsync(() => agents.All(a => a.ReportsAcked >= 3), because: $"round {round}: every agent has three reports acked");
            await stop.CancelAsync();
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(15));
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task An_agent_that_pins_another_key_sends_nothing_and_says_why()
    {
        using var otherDirectory = new TempDirectory();
        using var other = HubTlsIdentity.LoadOrCreate(otherDirectory.Path, [], TimeProvider.System);
        await using var fixture = await HubFixture.StartAsync(o => o with { Tls = _identity });

        var reason = await FirstDisconnectAsync(Agent("wrong-pin", fixture.AgentEndPoint, HubTrust.FromKeyFingerprint(other.Fingerprint)));

        Assert.True(reason.Reason == Drover.Agent.DisconnectReason.HubNotTrusted, $"{reason.Reason}: {reason.Detail}");
        Assert.Contains($"the hub's key is {_identity.Fingerprint}, not the pinned {other.Fingerprint}", reason.Detail, StringComparison.Ordinal);
        Assert.Empty(fixture.Hub.Registry.Entries); // no hello reached the hub
    }

    [Fact]
    public async Task A_TLS_agent_meeting_a_plain_hub_sends_nothing_and_names_the_insecure_flag()
    {
        await using var fixture = await HubFixture.StartAsync();

        var reason = await FirstDisconnectAsync(Agent("expects-tls", fixture.AgentEndPoint, HubTrust.FromAuthorityFile(_identity.TrustAnchorPath!)));

        Assert.Equal(Drover.Agent.DisconnectReason.HubNotTrusted, reason.Reason);
        Assert.Contains("--insecure", reason.Detail, StringComparison.Ordinal);
        Assert.Empty(fixture.Hub.Registry.Entries);
    }

    [Fact]
    public async Task A_plain_client_at_a_TLS_hub_gets_no_session_and_the_hub_serves_on()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { Tls = _identity, ReportInterval = TimeSpan.FromSeconds(1) });

        await using (var plain = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint))
        {
            await plain.SendAsync(RawProtocolClient.MakeHello("plain-text"));
            Assert.True(await plain.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "the hub closes a client that does not speak TLS");
        }

        Assert.Empty(fixture.Hub.Registry.Entries);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.PendingConnections == 0, because: "the failed handshake's connection is released");

        await using var agent = new DroverAgent(Agent("after", fixture.AgentEndPoint, HubTrust.FromAuthorityFile(_identity.TrustAnchorPath!)));
        using var stop = new CancellationTokenSource();
        var run = agent.RunAsync(stop.Token);
        await HubFixture.WaitUntilAsync(() => agent.ReportsAcked >= 1, because: "a TLS agent still connects");
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(15));
    }

    private static AgentOptions Agent(string id, IPEndPoint hub, HubTrust trust) => new()
    {
        Hubs = [$"127.0.0.1:{hub.Port}"],
        AgentId = id,
        Trust = trust,
        IncludeSystemMetrics = false,
        BackoffBase = TimeSpan.FromMilliseconds(100),
        BackoffCap = TimeSpan.FromSeconds(1),
    };

    private static async Task<AgentEvent> FirstDisconnectAsync(AgentOptions options)
    {
        await using var agent = new DroverAgent(options);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var run = agent.RunAsync(stop.Token);
        try
        {
            await foreach (var e in agent.Events.ReadAllAsync(stop.Token))
            {
                if (e.Kind == AgentEventKind.Disconnected)
                {
                    return e;
                }
            }

            throw new InvalidOperationException("the agent's events ended without a disconnect");
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("drover-hub-tls-other-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
