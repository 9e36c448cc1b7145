using System.Net;
using System.Security.Cryptography;
using System.Text;
using Drover.Agent;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Issue 10's credential rotation: an enrolled agent's key has a lifetime (<see cref="HubOptions.AgentKeyLifetime"/>),
/// told in key_expiry after the welcome; the agent rotates it in its session with key_rotate, and the hub's key_expiry
/// answer commits it; an expired key is refused for good. Raw clients and the real agent library over real sockets, on a
/// fake clock shared by hub and agent.</summary>
public sealed class KeyRotationTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private static Task<HubFixture> StartAsync(FakeTimeProvider time, string? directory = null) => HubFixture.StartAsync(
        o => o with
        {
            OpenAgents = false,
            TimeProvider = time,
            AgentKeyLifetime = Lifetime,
            SweepInterval = TimeSpan.FromSeconds(1),

            // Reports every 5 min of fake time, so that an agent whose report is a few steps late in real time is not lost.
            ReportInterval = TimeSpan.FromMinutes(5),
        },
        directory);

    private static Hello Hello(string id, string credential, string key) => RawProtocolClient.MakeHello(id, credential) with { AgentKey = key };

    [Fact]
    public async Task The_hub_tells_the_expiry_after_the_welcome_rotates_in_session_and_refuses_an_expired_key()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        var join = await fixture.Hub.CreateJoinTokenAsync("rot");
        await using var agent = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await agent.HandshakeAsync(Hello("rotor", join, "first-key-0123456789")));
        var expiry = await agent.ReceiveAsync<KeyExpiry>();
        Assert.Equal((Start.ToUnixTimeMilliseconds(), (Start + Lifetime).ToUnixTimeMilliseconds()), (expiry.IssuedUnixMs, expiry.ExpiresUnixMs));

        // Later (a few seconds, so that this silent client is not yet late), the agent rotates in its session; the answer
        // gives the new key a lifetime of its own.
        time.Advance(TimeSpan.FromSeconds(5));
        await agent.SendAsync(new KeyRotate("second-key-0123456789"));
        var rotated = await agent.ReceiveAsync<KeyExpiry>();
        var now = Start + TimeSpan.FromSeconds(5);
        Assert.Equal((now.ToUnixTimeMilliseconds(), (now + Lifetime).ToUnixTimeMilliseconds()), (rotated.IssuedUnixMs, rotated.ExpiresUnixMs));
        await agent.SendAsync(RawProtocolClient.MakeStatus(1));
        Assert.Equal(1UL, (await agent.ReceiveAsync<StatusAck>()).Sequence); // the session went on

        // Stored: the new key gets in, the old one no longer does; the same rotation again changes nothing.
        var stored = Assert.Single(await fixture.AccessStore.ListAgentKeysAsync(CancellationToken.None));
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes("second-key-0123456789")), stored.KeyHash);
        await using (var old = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint))
        {
            Assert.Equal(ErrorCode.AgentKeyMismatch, Assert.IsType<Refuse>(await old.HandshakeAsync(Hello("rotor", string.Empty, "first-key-0123456789"))).Code);
        }

        await agent.SendAsync(new KeyRotate("second-key-0123456789"));
        Assert.Equal(rotated, await agent.ReceiveAsync<KeyExpiry>());

        // A key that is not one: the hub ends the session.
        await agent.SendAsync(new KeyRotate("short"));
        Assert.Equal(ErrorCode.Malformed, (await agent.ReceiveAsync<Bye>()).Code);

        // Not rotated in time: refused for good once it expires.
        time.Advance(Lifetime);
        await using var late = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        var refuse = Assert.IsType<Refuse>(await late.HandshakeAsync(Hello("rotor", string.Empty, "second-key-0123456789")));
        Assert.Equal(ErrorCode.CredentialRevoked, refuse.Code);
        Assert.Contains("expired", refuse.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_bound_on_first_use_has_no_expiry_and_cannot_be_rotated_by_a_keyless_session()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await HubFixture.StartAsync(o => o with { TimeProvider = time, AgentKeyLifetime = Lifetime });
        await using var keyed = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await keyed.HandshakeAsync(RawProtocolClient.MakeHello("tofu") with { AgentKey = "tofu-key-0123456789" }));
        await keyed.SendAsync(new Ping(5));
        Assert.IsType<Pong>(await keyed.ReceiveAsync()); // no key_expiry came first: this key does not expire

        await using var keyless = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await keyless.HandshakeAsync(RawProtocolClient.MakeHello("no-key")));
        await keyless.SendAsync(new KeyRotate("some-key-0123456789"));
        Assert.Equal(ErrorCode.UnexpectedMessage, (await keyless.ReceiveAsync<Bye>()).Code);
    }

    [Fact]
    public async Task The_real_agent_rotates_its_key_in_session_keeps_it_in_its_state_directory_and_recovers_from_an_unconfirmed_rotation()
    {
        var time = new FakeTimeProvider(Start);
        var state = HubFixture.NewDataDirectory();
        try
        {
            await using var fixture = await StartAsync(time);
            var join = await fixture.Hub.CreateJoinTokenAsync("rot");
            AgentOptions Options() => new()
            {
                Hubs = [$"127.0.0.1:{fixture.AgentEndPoint.Port}"],
                AgentId = "rotor",
                Trust = HubTrust.Insecure,
                Token = join,
                KeyStore = AgentIdentity.OpenKeyStore(state),
                TimeProvider = time,
                IncludeSystemMetrics = false,
            };

            var first = Options();
            var keyFile = Path.Combine(state, AgentIdentity.KeyFileName);
            var firstKey = File.ReadAllText(keyFile).Trim();
            await using (var agent = new DroverAgent(first))
            {
                using var stop = new CancellationTokenSource();
                var run = agent.RunAsync(stop.Token);
                await AdvanceUntilAsync(time, () => agent.ConnectionState == AgentConnectionState.Connected, "enrolled and connected");

                // Past two thirds plus a tenth of the lifetime: rotated, in the same session.
                var sessions = agent.Sessions;
                await AdvanceUntilAsync(time, () => File.ReadAllText(keyFile).Trim() != firstKey && !File.Exists(Path.Combine(state, AgentIdentity.NextKeyFileName)), "the key rotated");
                Assert.Equal(sessions, agent.Sessions);
                var stored = Assert.Single(await fixture.AccessStore.ListAgentKeysAsync(CancellationToken.None));
                Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(File.ReadAllText(keyFile).Trim())), stored.KeyHash);
                await stop.CancelAsync();
                await run;
            }

            // A rotation the hub never got (the agent stopped between keeping the next key and sending it): the hub refuses
            // the next key, the agent drops it and gets in with its current one.
            File.WriteAllText(Path.Combine(state, AgentIdentity.NextKeyFileName), AgentIdentity.NewKey() + "\n");
            await using (var restarted = new DroverAgent(Options()))
            {
                using var stop = new CancellationTokenSource();
                var run = restarted.RunAsync(stop.Token);
                await AdvanceUntilAsync(time, () => restarted.ConnectionState == AgentConnectionState.Connected, "connected with the current key");
                Assert.False(File.Exists(Path.Combine(state, AgentIdentity.NextKeyFileName)));
                await stop.CancelAsync();
                await run;
            }
        }
        finally
        {
            TestPaths.DeleteDirectoryQuietly(state);
        }
    }

    /// <summary>Advances the shared fake clock (0.1 s steps for the first 6 s, then a minute at a time), letting real
    /// sockets and tasks run 20 ms between steps, until <paramref name="condition"/> holds.</summary>
    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string what)
    {
        for (var step = 0; step < 7_200; step++)
        {
            if (condition())
            {
                return;
            }

            time.Advance(TimeSpan.FromSeconds(step < 60 ? 0.1 : 60));
            await Task.Delay(20);
        }

        Assert.Fail($"not in {7_200} steps of fake time: {what}");
    }
}
