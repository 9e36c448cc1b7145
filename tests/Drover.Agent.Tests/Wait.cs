using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Agent.Tests;

/// <summary>Deterministic waiting for tests that mix a fake clock with real socket I/O: time only moves
/// when a test advances it, and real time is used only as a generous timeout for I/O to happen.</summary>
internal static class Wait
{
    public static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Polls <paramref name="condition"/> (real time, fake clock untouched) until it holds.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > RealTimeout)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(2);
        }
    }

    /// <summary>Advances the fake clock by <paramref name="step"/> between polls until the condition holds,
    /// never past <paramref name="maxAdvance"/> in total; returns how far the clock moved.</summary>
    public static async Task<TimeSpan> AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string what, TimeSpan step, TimeSpan maxAdvance)
    {
        var watch = Stopwatch.StartNew();
        var advanced = TimeSpan.Zero;
        while (!condition())
        {
            if (watch.Elapsed > RealTimeout)
            {
                throw new TimeoutException($"timed out waiting for: {what} (clock advanced {advanced})");
            }

            if (advanced + step <= maxAdvance)
            {
                time.Advance(step);
                advanced += step;
            }

            // Let socket I/O and continuations run.
            await Task.Delay(2);
        }

        return advanced;
    }

    /// <summary>Gives the agent real time to act on what it was just told, before a check that nothing
    /// happened. The fake clock is not moved, so this cannot make a timer fire.</summary>
    public static Task SettleAsync() => Task.Delay(150);
}

/// <summary>Collects an agent's lifecycle events in the background.</summary>
internal sealed class EventLog
{
    private readonly ConcurrentQueue<AgentEvent> _events = new();

    public EventLog(DroverAgent agent) => _ = PumpAsync(agent);

    public IReadOnlyList<AgentEvent> All => _events.ToArray();

    public IReadOnlyList<AgentEvent> Of(AgentEventKind kind) => _events.Where(e => e.Kind == kind).ToArray();

    private async Task PumpAsync(DroverAgent agent)
    {
        await foreach (var e in agent.Events.ReadAllAsync())
        {
            _events.Enqueue(e);
        }
    }
}
