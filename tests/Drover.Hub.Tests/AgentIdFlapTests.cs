using System.Text.Json;
using Drover.Hub.Fleet;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>An agent id that flaps between two connection sources (two agents sharing one id replace each other) is
/// counted per agent and in total, and logged once a minute with both sources; one takeover (a reconnect) is not.</summary>
public sealed class AgentIdFlapTests
{
    private const int FlapEvent = 209;
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Two_raw_clients_alternating_hellos_with_one_id_are_counted_and_logged_once()
    {
        var log = new LogCapture();
        await using var fixture = await HubFixture.StartAsync(loggerFactory: log.Factory);
        var clients = new List<RawProtocolClient>();
        try
        {
            // Five hellos, as two agents (A, B, A, B, A) whose every hello replaces the other's live session.
            for (var i = 0; i < 5; i++)
            {
                var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
                clients.Add(client);
                Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello("shared-id")));
                if (i > 0)
                {
                    var bye = await clients[i - 1].ReceiveAsync<Bye>();
                    Assert.Equal(ErrorCode.SessionReplaced, bye.Code);
                }
            }

            // Four takeovers: the third and the fourth are within the window of three, so two flaps, and one line.
            Assert.Equal(2, fixture.Hub.Sessions.Takeovers.FlapsOf("shared-id"));
            var lines = log.WithEvent(FlapEvent);
            Assert.Single(lines);
            Assert.Contains("shared-id", lines[0].Message, StringComparison.Ordinal);
            Assert.Contains("127.0.0.1:", lines[0].Message, StringComparison.Ordinal);

            using var http = fixture.CreateApiClient();
            using var agent = JsonDocument.Parse(await http.GetStringAsync("/api/agents/shared-id"));
            Assert.Equal(2, agent.RootElement.GetProperty("agent").GetProperty("idFlaps").GetInt64());
            using var stats = JsonDocument.Parse(await http.GetStringAsync("/api/stats"));
            Assert.Equal(2, stats.RootElement.GetProperty("idFlaps").GetInt64());
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public void Three_takeovers_within_the_window_flap_and_a_line_is_written_at_most_once_a_minute()
    {
        var time = new FakeTimeProvider(Start);
        var log = new LogCapture();
        var takeovers = new SessionTakeovers(time, log.Factory.CreateLogger("test"));

        // A reconnect now and then is not flapping: takeovers further apart than the window.
        for (var i = 0; i < 4; i++)
        {
            takeovers.OnTakeover("calm", "10.0.0.1:1000", "10.0.0.1:1001");
            time.Advance(SessionTakeovers.Window / 2 + TimeSpan.FromSeconds(1));
        }

        Assert.Equal(0, takeovers.FlapsOf("calm"));

        // Two agents with a 30 s backoff cap: a takeover every 33 s.
        for (var i = 0; i < 6; i++)
        {
            takeovers.OnTakeover("twins", i % 2 == 0 ? "10.0.0.5:4000" : "10.0.0.5:4100", i % 2 == 0 ? "10.0.0.5:4100" : "10.0.0.5:4000");
            time.Advance(TimeSpan.FromSeconds(33));
        }

        // Takeovers 3 to 6 flap (at 66, 99, 132 and 165 s); lines at 66 s and at 132 s (a minute later), the second with its count of 2.
        Assert.Equal(4, takeovers.FlapsOf("twins"));
        Assert.Equal(4, takeovers.TotalFlaps);
        var lines = log.WithEvent(FlapEvent);
        Assert.Equal(2, lines.Count);
        Assert.Contains("twins flaps between sources 10.0.0.5:4000 and 10.0.0.5:4100", lines[0].Message, StringComparison.Ordinal);
        Assert.Contains(": 2 takeovers", lines[1].Message, StringComparison.Ordinal);
        Assert.Equal(0, takeovers.FlapsOf("nobody"));
    }

    [Fact]
    public void A_flapping_id_with_control_characters_is_logged_escaped()
    {
        var log = new LogCapture();
        var takeovers = new SessionTakeovers(new FakeTimeProvider(Start), log.Factory.CreateLogger("test"));
        for (var i = 0; i < 3; i++)
        {
            takeovers.OnTakeover("x\u001by", "a\nb", "c");
        }

        var line = Assert.Single(log.WithEvent(FlapEvent)).Message;
        Assert.Contains("x\\u001By flaps between sources a\\u000Ab and c", line, StringComparison.Ordinal);
    }
}
