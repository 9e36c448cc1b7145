using System.Net;
using System.Net.Http.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.Storage;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary><c>/api/agents</c> paged, searched and sorted on the hub; <c>/api/agents/{id}/history</c> and
/// <c>/api/agents/{id}/events</c> from the store, written by the status writer's batches (real sockets, real SQLite).</summary>
public sealed class AgentHistoryApiTests : IAsyncLifetime
{
    private HubFixture _fixture = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        // Flushes every 50 ms, so that reports a little apart are samples of their own.
        _fixture = await HubFixture.StartAsync(o => o with { FlushInterval = TimeSpan.FromMilliseconds(50) });
        _http = _fixture.CreateApiClient();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _fixture.DisposeAsync();
    }

    private async Task<RawProtocolClient> ConnectAsync(string id)
    {
        var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id)));
        return client;
    }

    private async Task<T> PollAsync<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var answer = (await _http.GetFromJsonAsync(path, type))!;
            if (done(answer))
            {
                return answer;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out polling {path}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_sessions_events_are_stored_with_reasons_and_paged_newest_first()
    {
        var client = await ConnectAsync("ev-1");
        await client.SendAsync(RawProtocolClient.MakeStatus(1));
        await client.ReceiveAsync<StatusAck>();
        await client.DisposeAsync();

        var all = await PollAsync("api/agents/ev-1/events", ApiJsonContext.Default.AgentEventPage, p => p.Items.Any(e => e.Kind == AgentEventKinds.SessionClosed));
        Assert.Equal([AgentEventKinds.Presence, AgentEventKinds.SessionClosed, AgentEventKinds.SessionOpened], all.Items.Select(e => e.Kind));
        Assert.Equal("lost", all.Items[0].Reason);
        Assert.Equal("online → lost", all.Items[0].Detail);
        Assert.Contains(all.Items[1].Reason, new[] { nameof(DisconnectReason.AgentClosed), nameof(DisconnectReason.ConnectionReset) });
        Assert.Null(all.Items[2].Reason);
        Assert.Contains("from 127.0.0.1:", all.Items[2].Detail, StringComparison.Ordinal);
        Assert.Null(all.Next);

        // One a page: the cursors walk the same events.
        var walked = new List<long>();
        string? cursor = null;
        do
        {
            var page = (await _http.GetFromJsonAsync("api/agents/ev-1/events?limit=1" + (cursor is null ? string.Empty : "&cursor=" + cursor), ApiJsonContext.Default.AgentEventPage))!;
            walked.AddRange(page.Items.Select(e => e.Id));
            cursor = page.Next;
        }
        while (cursor is not null);

        Assert.Equal(all.Items.Select(e => e.Id), walked);
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        Assert.Empty((await _http.GetFromJsonAsync($"api/agents/ev-1/events?since={future}", ApiJsonContext.Default.AgentEventPage))!.Items);
    }

    [Fact]
    public async Task History_pages_through_every_sample_and_the_agent_keeps_its_latest()
    {
        await using var client = await ConnectAsync("hist-1");
        for (ulong seq = 1; seq <= 3; seq++)
        {
            await client.SendAsync(RawProtocolClient.MakeStatus(seq, AgentState.Busy, ("n", FieldValue.From((long)seq))));
            await client.ReceiveAsync<StatusAck>();
            var expected = (int)seq;
            await PollAsync("api/agents/hist-1/history", ApiJsonContext.Default.StatusHistoryPage, p => p.Items.Count == expected);
        }

        var first = (await _http.GetFromJsonAsync("api/agents/hist-1/history?limit=2", ApiJsonContext.Default.StatusHistoryPage))!;
        Assert.Equal([3UL, 2UL], first.Items.Select(s => s.Seq));
        Assert.NotNull(first.Next);
        var second = (await _http.GetFromJsonAsync($"api/agents/hist-1/history?limit=2&cursor={first.Next}", ApiJsonContext.Default.StatusHistoryPage))!;
        Assert.Equal([1UL], second.Items.Select(s => s.Seq));
        Assert.Null(second.Next);
        Assert.Equal(1L, ((System.Text.Json.JsonElement)second.Items[0].Fields["n"]!).GetInt64());

        var detail = (await _http.GetFromJsonAsync("api/agents/hist-1", ApiJsonContext.Default.AgentDetail))!;
        Assert.Equal(3UL, detail.Agent.Status!.Seq);
        Assert.Equal([3UL, 2UL, 1UL], detail.History.Select(s => s.Seq));
    }

    [Fact]
    public async Task The_agents_list_is_searched_sorted_and_paged_on_the_hub()
    {
        await using var a = await ConnectAsync("alpha-1");
        await using var b = await ConnectAsync("beta-2");
        await using var c = await ConnectAsync("alpha-3");

        var alphas = (await _http.GetFromJsonAsync("api/agents?q=ALPHA&sort=-id", ApiJsonContext.Default.AgentPage))!;
        Assert.Equal(["alpha-3", "alpha-1"], alphas.Items.Select(x => x.Id));
        Assert.Equal(2, alphas.Total);

        // Paged one at a time by first seen (the order they connected), then by id descending.
        foreach (var (sort, expected) in new[] { ("firstSeen", new[] { "alpha-1", "beta-2", "alpha-3" }), ("-id", ["beta-2", "alpha-3", "alpha-1"]), ("state", ["alpha-1", "alpha-3", "beta-2"]) })
        {
            var ids = new List<string>();
            string? cursor = null;
            do
            {
                var page = (await _http.GetFromJsonAsync($"api/agents?limit=1&sort={sort}" + (cursor is null ? string.Empty : "&cursor=" + cursor), ApiJsonContext.Default.AgentPage))!;
                Assert.Equal(3, page.Total);
                ids.AddRange(page.Items.Select(x => x.Id));
                cursor = page.Next;
            }
            while (cursor is not null);

            Assert.Equal(expected, ids);
        }

        var seenLately = (await _http.GetFromJsonAsync($"api/agents?since={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O"))}", ApiJsonContext.Default.AgentPage))!;
        Assert.Equal(3, seenLately.Total);
        Assert.Equal(0, (await _http.GetFromJsonAsync($"api/agents?since={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"))}", ApiJsonContext.Default.AgentPage))!.Total);

        // A cursor of one sort is refused by another.
        var byId = (await _http.GetFromJsonAsync("api/agents?limit=1", ApiJsonContext.Default.AgentPage))!;
        using var mixed = await _http.GetAsync($"api/agents?limit=1&sort=lastSeen&cursor={byId.Next}");
        await JobsApiTests.AssertErrorAsync(mixed, HttpStatusCode.BadRequest, ProblemCodes.InvalidParameter, says: "cursor");
    }

    [Theory]
    [InlineData("api/agents?sort=name", ProblemCodes.InvalidParameter, "sort")]
    [InlineData("api/agents?since=yesterday", ProblemCodes.InvalidParameter, "since")]
    [InlineData("api/agents?cursor=not-a-cursor", ProblemCodes.InvalidParameter, "cursor")]
    [InlineData("api/agents?label=role", ProblemCodes.InvalidParameter, "label")]
    [InlineData("api/jobs?cursor=YWdlbnRzOng", ProblemCodes.InvalidParameter, "cursor")]
    [InlineData("api/agents/nobody/history", ProblemCodes.NotFound, "nobody")]
    [InlineData("api/agents/nobody/events", ProblemCodes.NotFound, "nobody")]
    [InlineData("api/audit?limit=0", ProblemCodes.InvalidParameter, "limit")]
    [InlineData("api/tokens?cursor=dG9rZW5zOjk5OQ", ProblemCodes.InvalidParameter, "cursor")]
    public async Task A_bad_list_request_is_a_problem_with_its_code(string path, string code, string says)
    {
        using var response = await _http.GetAsync(path);
        await JobsApiTests.AssertErrorAsync(response, code == ProblemCodes.NotFound ? HttpStatusCode.NotFound : HttpStatusCode.BadRequest, code, says);
    }
}
