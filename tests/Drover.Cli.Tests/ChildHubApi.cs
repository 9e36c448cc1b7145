using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Drover.Api;
using Drover.TestUtilities;

namespace Drover.Cli.Tests;

/// <summary>The HTTP API of a <c>drover serve</c> child, as the flood tests read it while the hub is under attack:
/// every call timed (the API must answer within 5 s even then), the slowest remembered. It sends the suite's admin token
/// (<see cref="ApiClients.Plain"/>): the child hubs are started with --insecure, so the API is plain http.</summary>
internal sealed class ChildHubApi : IDisposable
{
    private static readonly TimeSpan MaxAnswerTime = TimeSpan.FromSeconds(5);
    private readonly HttpClient _http = ApiClients.Plain(TimeSpan.FromSeconds(15));
    private readonly Uri _api;
    private long _slowestCall;

    public ChildHubApi(Uri api) => _api = api;

    /// <summary>The slowest answer so far, in milliseconds.</summary>
    public long SlowestCallMs => Interlocked.Read(ref _slowestCall);

    /// <summary>The agent port and the API address from the hub's start line (<see cref="EndToEndTests.ServeListening"/>).</summary>
    public static (IPEndPoint Agents, Uri Api) Endpoints(Match listening)
    {
        ArgumentNullException.ThrowIfNull(listening);
        return (new IPEndPoint(IPAddress.Loopback, int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture)), new Uri(listening.Groups[2].Value));
    }

    /// <summary>/api/stats. Before issue 10's fix the API stopped answering when the descriptors ran out (Kestrel could
    /// not accept) and the hub died seconds later; with it an answer takes well under a second on a quiet machine, up
    /// to about 3 s on this 2-core one when other test runs load it (a load average of 30 was seen).</summary>
    public Task<StatsView> StatsAsync() => TimedAsync(async () => (await _http.GetFromJsonAsync(new Uri(_api, "api/stats"), ApiJsonContext.Default.StatsView))!);

    /// <summary>/healthz's status code.</summary>
    public Task<HttpStatusCode> HealthAsync() => TimedAsync(async () =>
    {
        using var answer = await _http.GetAsync(new Uri(_api, "healthz"));
        return answer.StatusCode;
    });

    /// <summary>Every agent the hub knows, all pages of /api/agents.</summary>
    public async Task<List<AgentView>> AgentsAsync()
    {
        var agents = new List<AgentView>();
        string? after = null;
        do
        {
            var query = "api/agents?limit=1000" + (after is null ? string.Empty : "&cursor=" + Uri.EscapeDataString(after));
            var page = await TimedAsync(async () => (await _http.GetFromJsonAsync(new Uri(_api, query), ApiJsonContext.Default.AgentPage))!);
            agents.AddRange(page.Items);
            after = page.Next;
        }
        while (after is not null);

        return agents;
    }

    public void Dispose() => _http.Dispose();

    private async Task<T> TimedAsync<T>(Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        var answer = await call();
        Assert.True(clock.Elapsed < MaxAnswerTime, $"the API took {clock.ElapsedMilliseconds} ms");
        var seen = Interlocked.Read(ref _slowestCall);
        while (clock.ElapsedMilliseconds > seen && Interlocked.CompareExchange(ref _slowestCall, clock.ElapsedMilliseconds, seen) != seen)
        {
            seen = Interlocked.Read(ref _slowestCall);
        }

        return answer;
    }
}
