using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The sweep's trim after a burst (docs/architecture.md, "Memory after a connection storm") also follows a
/// flood of short connections that leaves the fleet as it was: issue 10's fuzzing test found 10,000 hostile
/// connections leaving the GC with twice its committed memory (+30 % RSS) when only a change of 1,000 agents counted.</summary>
public sealed class BurstTrimTests
{
    private const int TrimEvent = 302;

    [Fact]
    public async Task A_thousand_short_connections_are_followed_by_one_trim_and_fewer_by_none()
    {
        var log = new LogCapture();
        await using var fixture = await HubFixture.StartAsync(loggerFactory: log.Factory);

        // 999 connections, each closed by the hub for an unknown message type: below the bar, no trim.
        await OpenAndGetClosedAsync(fixture, 999);
        await Task.Delay(TimeSpan.FromSeconds(1)); // ten sweeps of 100 ms, two quiet ones are enough
        Assert.Empty(log.WithEvent(TrimEvent));

        // The thousandth: once two sweeps pass without a new socket, one trim, with the fleet unchanged (no agent).
        await OpenAndGetClosedAsync(fixture, 1);
        await HubFixture.WaitUntilAsync(() => log.WithEvent(TrimEvent).Count > 0, because: "a trim after 1,000 connections");
        await Task.Delay(TimeSpan.FromSeconds(1));
        var trim = Assert.Single(log.WithEvent(TrimEvent));
        Assert.Contains("settled at 0 agents", trim.Message, StringComparison.Ordinal);
        Assert.Equal(1_000, fixture.Hub.Sessions.Limits.Accepted);
    }

    private static async Task OpenAndGetClosedAsync(HubFixture fixture, int count)
    {
        var unknownType = new byte[] { 0, 0, 0, 0, 0x7f };
        foreach (var batch in Enumerable.Range(0, count).Chunk(100))
        {
            await Task.WhenAll(batch.Select(async _ =>
            {
                await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
                await client.SendRawAsync(unknownType);
                var bye = await client.ReceiveAsync<Bye>();
                Assert.Equal(ErrorCode.UnknownMessageType, bye.Code);
            }));
        }
    }
}
