using System.Diagnostics;
using System.Net.Http.Json;
using Drover.Api;
using Drover.Storage;
using Drover.Storage.Sqlite;
using Drover.TestUtilities;
using Xunit.Abstractions;

namespace Drover.Hub.Tests;

/// <summary><c>GET /api/agents</c> over 20,000 agents (loaded by the hub from its store at start): a page sorted and
/// searched on the hub answers in milliseconds, and the cursors walk every agent once.</summary>
public sealed class AgentListingScaleTests(ITestOutputHelper output)
{
    private const int Agents = 20_000;

    [Fact]
    public async Task A_page_of_20000_agents_is_sorted_and_searched_on_the_hub_in_milliseconds()
    {
        var directory = HubFixture.NewDataDirectory();
        try
        {
            var at = DateTimeOffset.UtcNow.AddMinutes(-30);
            await using (var store = new SqliteFleetStore(new SqliteStoreOptions { Path = Path.Combine(directory, "drover.db") }))
            {
                await store.InitializeAsync(CancellationToken.None);
                var records = Enumerable.Range(0, Agents).Select(i => new AgentRecord
                {
                    Id = $"node-{i:D5}",
                    Labels = new Dictionary<string, string> { ["rack"] = $"r{i % 40}" },
                    FirstSeen = at,
                    LastSeen = at.AddMilliseconds((i * 7919) % Agents),
                    Presence = i % 10 == 0 ? Presence.Lost : Presence.Online,
                    SessionEpoch = (ulong)i + 1,
                    SlotOrdinal = i,
                }).ToList();
                await store.WriteBatchAsync(records, [], CancellationToken.None);
            }

            await using var fixture = await HubFixture.StartAsync(dataDirectory: directory);
            using var http = fixture.CreateApiClient();
            string[] queries = ["sort=-lastSeen&limit=100", "q=node-1&sort=state&limit=100", "state=lost&label=rack=r0&limit=100", "limit=1000"];
            foreach (var query in queries)
            {
                await http.GetFromJsonAsync("api/agents?" + query, ApiJsonContext.Default.AgentPage); // warm up
                var times = new List<double>();
                for (var i = 0; i < 10; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    var page = (await http.GetFromJsonAsync("api/agents?" + query, ApiJsonContext.Default.AgentPage))!;
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    Assert.NotEmpty(page.Items);
                }

                times.Sort();
                output.WriteLine($"GET /api/agents?{query} over {Agents:N0} agents: median {times[5]:F1} ms, max {times[^1]:F1} ms");
                Assert.True(times[5] < 250, $"{query}: median {times[5]:F1} ms");
            }

            // Newest first by last seen, 1,000 a page: every agent once, in order.
            var seen = new List<AgentView>();
            string? cursor = null;
            do
            {
                var page = (await http.GetFromJsonAsync("api/agents?limit=1000&sort=-lastSeen" + (cursor is null ? string.Empty : "&cursor=" + cursor), ApiJsonContext.Default.AgentPage))!;
                seen.AddRange(page.Items);
                cursor = page.Next;
            }
            while (cursor is not null);

            Assert.Equal(Agents, seen.Select(a => a.Id).Distinct(StringComparer.Ordinal).Count());
            Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.LastSeen >= p.Second.LastSeen), "not newest first");
        }
        finally
        {
            TestPaths.DeleteDirectoryQuietly(directory);
        }
    }
}
