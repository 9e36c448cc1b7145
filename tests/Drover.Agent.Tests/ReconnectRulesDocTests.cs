using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Agent.Tests;

/// <summary>The reconnect rules docs/protocol.md states for the Drover agent: the backoff counter is reset by every
/// welcome; the agent sends no bye of its own when it acts on the hub's backoff or redirect; a backoff counts as a
/// failed attempt, a redirect does not. A real agent against the in-process <see cref="TestHub"/>, fake clock.</summary>
public sealed class ReconnectRulesDocTests : AgentHarness
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void The_document_and_the_python_sketch_state_the_reset_at_every_welcome()
    {
        var doc = File.ReadAllText(TestPaths.RepositoryFile("docs", "protocol.md"));
        Assert.Contains("**Reset `attempt` to 0 at every welcome**", doc, StringComparison.Ordinal);
        Assert.DoesNotContain("not merely after a welcome", doc, StringComparison.Ordinal);
        var sketch = TestPaths.ProtocolDocPythonAgent();
        Assert.Contains("backoff[\"attempt\"] = 0                 # every welcome resets the reconnect backoff", sketch, StringComparison.Ordinal);
        Assert.DoesNotContain("time.monotonic() - started > 60", sketch, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_welcome_resets_the_backoff_however_short_the_session()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        for (var round = 1; round <= 5; round++)
        {
            await Wait.UntilAsync(() => hub.ConnectionCount == round && hub.Latest!.Statuses.Count >= 1, $"session {round}");
            await hub.Latest!.SendAndCloseAsync(new Bye(ErrorCode.ShuttingDown, "hub is shutting down; reconnect with backoff"));
            await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == round, $"disconnect {round}");

            // Without the reset the ceiling would double each round (500 ms, 1 s, 2 s, ...): it stays at the base.
            var retryIn = run.Events.Of(AgentEventKind.Disconnected)[round - 1].RetryIn!.Value;
            Assert.InRange(retryIn, 250 * Ms, 500 * Ms);
            Assert.Empty(hub.Latest.ReceivedOf<Bye>());
            await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == round + 1, $"reconnect {round}", 10 * Ms, TimeSpan.FromSeconds(1));
        }
    }

    [Fact]
    public async Task Failures_without_a_welcome_grow_the_backoff_and_the_next_welcome_resets_it()
    {
        var hub = NewHub();
        hub.Answer = (_, n) => n < 3 ? new Refuse(ErrorCode.InternalError, 0, "not yet") : hub.CreateWelcome();
        var run = StartAgent(Options(hub.Address));
        for (var n = 1; n <= 3; n++)
        {
            await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == n, $"refusal {n}");
            await Wait.AdvanceUntilAsync(Time, () => hub.ConnectionCount == n + 1, $"retry {n}", 10 * Ms, TimeSpan.FromSeconds(5));
        }

        var delays = run.Events.Of(AgentEventKind.Disconnected).Select(e => e.RetryIn!.Value).ToArray();
        Assert.InRange(delays[0], 250 * Ms, 500 * Ms);
        Assert.InRange(delays[1], 250 * Ms, 1000 * Ms);
        Assert.InRange(delays[2], 250 * Ms, 2000 * Ms);

        await Wait.UntilAsync(() => hub.Latest!.Statuses.Count >= 1, "welcomed");
        await hub.Latest!.SendAndCloseAsync(new Bye(ErrorCode.None, "bye"));
        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 4, "closed after the welcome");
        Assert.InRange(run.Events.Of(AgentEventKind.Disconnected)[3].RetryIn!.Value, 250 * Ms, 500 * Ms);
    }

    [Fact]
    public async Task On_backoff_the_agent_closes_without_a_bye_and_counts_one_failed_attempt()
    {
        var hub = NewHub();
        var run = StartAgent(Options(hub.Address));
        await Wait.UntilAsync(() => hub.Latest?.Statuses.Count >= 1, "connected");
        var first = hub.Latest!;

        await first.SendAndCloseAsync(new Backoff(0, "shedding load"));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1 && first.Closed, "the agent closed");
        Assert.Empty(first.ReceivedOf<Bye>());
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Backoff, disconnected.Reason);
        Assert.InRange(disconnected.RetryIn!.Value, 250 * Ms, 500 * Ms);
    }

    [Fact]
    public async Task On_redirect_the_agent_closes_without_a_bye_and_waits_below_the_base_without_counting()
    {
        var first = NewHub("first");
        var second = NewHub("second");
        var run = StartAgent(Options(first.Address));
        await Wait.UntilAsync(() => first.Latest?.Statuses.Count >= 1, "connected");

        await first.Latest!.SendAndCloseAsync(new Redirect([second.Address], "rebalance"));

        await Wait.UntilAsync(() => run.Events.Of(AgentEventKind.Disconnected).Count == 1 && first.Latest.Closed, "the agent closed");
        Assert.Empty(first.Latest.ReceivedOf<Bye>());
        var disconnected = run.Events.Of(AgentEventKind.Disconnected)[0];
        Assert.Equal(DisconnectReason.Redirect, disconnected.Reason);
        Assert.InRange(disconnected.RetryIn!.Value, TimeSpan.Zero, 500 * Ms);
    }
}
