using System.Net.Http.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

public sealed class HubLoadTests
{
    [Fact]
    public async Task Five_thousand_agents_connect_report_and_all_show_online()
    {
        const int agents = 5_000;
        await using var fixture = await HubFixture.StartAsync();
        var clients = new RawProtocolClient[agents];
        var gate = new SemaphoreSlim(200);
        await Task.WhenAll(Enumerable.Range(0, agents).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
                Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello($"load-{i:D5}")));
                await client.SendAsync(RawProtocolClient.MakeStatus(1));
                await client.ReceiveAsync<StatusAck>();
                clients[i] = client;
            }
            finally
            {
                gate.Release();
            }
        }));

        Assert.Equal(agents, fixture.Hub.ConnectedAgents);
        using var http = fixture.CreateApiClient();
        var stats = await http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        Assert.Equal(agents, stats!.ByState["online"]);
        var page = await http.GetFromJsonAsync("api/agents?state=online&limit=1000", ApiJsonContext.Default.AgentPage);
        Assert.Equal(agents, page!.Total);
        Assert.Equal(1000, page.Items.Count);
        Assert.Equal("load-00999", page.Items[^1].Id);
        Assert.NotNull(page.Next);

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Hellos_beyond_the_admission_rate_are_refused_with_spread_retry_afters()
    {
        await using var fixture = await HubFixture.StartAsync(o => o with { AdmitPerSecond = 20 });
        var answers = new List<Message>();
        var clients = new List<RawProtocolClient>();
        for (var i = 0; i < 60; i++)
        {
            var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            answers.Add(await client.HandshakeAsync(RawProtocolClient.MakeHello($"storm-{i}")));
            clients.Add(client);
        }

        var refusals = answers.OfType<Refuse>().ToList();
        Assert.InRange(answers.OfType<Welcome>().Count(), 20, 25);
        Assert.All(refusals, r => Assert.Equal(ErrorCode.Overloaded, r.Code));
        Assert.True(refusals.Select(r => r.RetryAfterMs).Distinct().Count() > refusals.Count / 2, "retry-afters are spread, not one value");
        Assert.True(refusals.Max(r => r.RetryAfterMs) <= 3_000);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }
}
