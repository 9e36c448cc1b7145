using System.Net;
using System.Text.Json;
using Drover.Api;
using Drover.Hub.Dashboard;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The dashboard's live stream (<c>GET /api/live</c>, server-sent events) over a real socket, and the arithmetic
/// of its arrival figures.</summary>
public sealed class LiveStreamTests
{
    [Fact]
    public async Task The_stream_sends_a_summary_each_second_and_the_agents_that_join_or_report()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { ReportInterval = TimeSpan.FromSeconds(1) });
        await using var early = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        await early.HandshakeAsync(RawProtocolClient.MakeHello("early"));
        await early.SendAsync(RawProtocolClient.MakeStatus(1));

        using var api = fixture.CreateApiClient();
        using var response = await api.GetAsync("api/live?watch=early", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var events = new EventReader(await response.Content.ReadAsStreamAsync());

        var (name, data) = await events.NextAsync();
        Assert.Equal("summary", name);
        var summary = JsonSerializer.Deserialize(data, LiveJsonContext.Default.LiveSummary)!;
        Assert.Equal("test-hub", summary.HubId);
        Assert.Equal(1, summary.Agents);
        Assert.Equal(1, summary.ByState["online"]);
        Assert.Equal(120, summary.Arrivals.Arrived.Length);
        Assert.Equal(120, summary.Arrivals.Predicted.Length);

        // A newcomer is sent as joined; the watched agent's next report is sent too.
        await using var newcomer = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        await newcomer.HandshakeAsync(RawProtocolClient.MakeHello("newcomer"));
        await early.SendAsync(RawProtocolClient.MakeStatus(2));
        var seen = new Dictionary<string, LiveAgent>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(seen.ContainsKey("newcomer") && seen.TryGetValue("early", out var e) && e.Seq == 2) && DateTime.UtcNow < deadline)
        {
            (name, data) = await events.NextAsync();
            if (name == "agents")
            {
                foreach (var agent in JsonSerializer.Deserialize(data, LiveJsonContext.Default.LiveAgents)!.Changed)
                {
                    seen[agent.Id] = agent;
                }
            }
        }

        Assert.True(seen["newcomer"].Joined);
        Assert.Equal("online", seen["newcomer"].State);
        Assert.Equal(2UL, seen["early"].Seq);
        Assert.False(seen["early"].Joined);
    }

    [Fact]
    public async Task The_stream_needs_a_token_and_refuses_too_many_watched_ids()
    {
        await using var fixture = await HubFixture.StartAsync();
        using var anonymous = fixture.CreateApiClient(token: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/live")).StatusCode);

        using var api = fixture.CreateApiClient();
        var ids = string.Join(',', Enumerable.Range(0, LiveWatch.MaxWatched + 1).Select(i => $"a{i}"));
        Assert.Equal(HttpStatusCode.BadRequest, (await api.GetAsync($"api/live?watch={ids}")).StatusCode);
    }

    [Theory]
    [InlineData(60_000L, 17_250L, 60_000L, 17_250L, 0L)]
    [InlineData(60_000L, 17_350L, 60_000L, 17_250L, 100L)]
    [InlineData(60_000L, 17_150L, 60_000L, 17_250L, -100L)]
    [InlineData(60_000L, 47_250L + 1, 60_000L, 17_250L, -29_999L)]
    [InlineData(60_000L, 47_250L - 1, 60_000L, 17_250L, 29_999L)]
    public void A_reports_lag_is_its_distance_after_the_nearest_slot(long receivedBase, long receivedInInterval, long interval, long offset, long expected)
    {
        var received = (1_800_000_000_000L / receivedBase * receivedBase) + receivedInInterval;
        Assert.Equal(expected, FleetPass.LagMs(received, offset, (uint)interval));
    }

    [Fact]
    public void Many_agents_going_silent_at_once_is_a_warning_and_a_few_are_not()
    {
        Assert.Null(LiveFeed.SilenceWarning(wentSilent: 9, connected: 10, TimeSpan.FromSeconds(125)));
        Assert.Null(LiveFeed.SilenceWarning(wentSilent: 40, connected: 1000, TimeSpan.FromSeconds(125)));
        var warning = LiveFeed.SilenceWarning(wentSilent: 60, connected: 940, TimeSpan.FromSeconds(125));
        Assert.NotNull(warning);
        Assert.StartsWith("60 agents (6 % of the fleet) went silent within the last 125 s", warning);
    }

    /// <summary>Reads server-sent events: (event name, data) pairs.</summary>
    private sealed class EventReader(Stream stream) : IDisposable
    {
        private readonly StreamReader _reader = new(stream);

        public async Task<(string Name, string Data)> NextAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            string name = "message", data = string.Empty;
            while (true)
            {
                var line = await _reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("the stream ended");
                if (line.Length == 0)
                {
                    if (data.Length > 0)
                    {
                        return (name, data);
                    }

                    continue;
                }

                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data += line[6..];
                }
            }
        }

        public void Dispose() => _reader.Dispose();
    }
}
