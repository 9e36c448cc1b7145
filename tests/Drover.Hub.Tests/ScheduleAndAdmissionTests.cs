using Drover.Hub.Fleet;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

public class ReportScheduleTests
{
    [Fact]
    public void Ten_thousand_slots_fill_every_second_of_a_minute_evenly()
    {
        const int agents = 10_000;
        var perSecond = new int[60];
        for (var ordinal = 0; ordinal < agents; ordinal++)
        {
            perSecond[ReportSchedule.SlotOffsetMs(ordinal, 60_000) / 1000]++;
        }

        // 10,000 / 60 = 166.7 per second; random jitter would give roughly ±40 at the extremes.
        Assert.All(perSecond, count => Assert.InRange(count, 163, 170));
    }

    [Fact]
    public void Any_prefix_of_the_slots_is_spread_evenly()
    {
        foreach (var agents in new[] { 7, 100, 1_000, 4_321 })
        {
            var offsets = Enumerable.Range(0, agents).Select(o => ReportSchedule.Fraction(o)).Order().ToArray();
            var largestGap = offsets.Zip(offsets.Skip(1), (a, b) => b - a).Append(1 - offsets[^1] + offsets[0]).Max();
            Assert.True(largestGap <= 2.0 / agents + 1e-12, $"{agents} agents: largest gap {largestGap}");
        }
    }

    [Fact]
    public void Interval_stretches_when_the_fleet_outgrows_the_rate_and_shrinks_back_with_hysteresis()
    {
        var schedule = new ReportSchedule(TimeSpan.FromSeconds(10), maxReportsPerSecond: 100);
        Assert.False(schedule.Update(500));
        Assert.Equal(10_000u, schedule.IntervalMs);

        Assert.True(schedule.Update(2_000));
        Assert.Equal(20_000u, schedule.IntervalMs);

        Assert.True(schedule.Update(2_100)); // a little more than 20 s is needed: stretch by a quarter at least
        Assert.Equal(25_000u, schedule.IntervalMs);
        Assert.False(schedule.Update(2_400)); // still fits: no reschedule for every second of growth

        Assert.False(schedule.Update(2_100)); // within 20%: no flapping
        Assert.Equal(25_000u, schedule.IntervalMs);

        Assert.True(schedule.Update(1_000));
        Assert.Equal(10_000u, schedule.IntervalMs); // never below the configured interval
    }
}

public class AdmissionControlTests
{
    [Fact]
    public void Beyond_the_burst_agents_get_distinct_retry_afters_one_spacing_apart()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var admission = new AdmissionControl(perSecond: 100, time);

        var admitted = 0;
        var retryAfters = new List<TimeSpan>();
        for (var i = 0; i < 300; i++)
        {
            if (admission.TryAdmit($"agent-{i}", out var retryAfter))
            {
                admitted++;
            }
            else
            {
                retryAfters.Add(retryAfter);
            }
        }

        Assert.InRange(admitted, 100, 102); // one second's burst
        Assert.Equal(300 - admitted, retryAfters.Count);
        Assert.Equal(retryAfters.Count, retryAfters.Distinct().Count());
        Assert.All(retryAfters.Zip(retryAfters.Skip(1)), pair => Assert.Equal(TimeSpan.FromMilliseconds(10), pair.Second - pair.First));
        // 300 agents at 100/s: the last one comes back three seconds after the storm began.
        Assert.InRange(retryAfters[^1], TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(3.01));
    }

    [Fact]
    public void An_agent_that_returns_at_its_moment_is_admitted_and_one_that_returns_early_is_told_the_rest()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var admission = new AdmissionControl(perSecond: 10, time);
        for (var i = 0; i < 11; i++)
        {
            admission.TryAdmit($"early-{i}", out _);
        }

        Assert.False(admission.TryAdmit("late", out var retryAfter));
        time.Advance(retryAfter / 2);
        Assert.False(admission.TryAdmit("late", out var rest));
        Assert.Equal(retryAfter - (retryAfter / 2), rest);

        time.Advance(rest);
        Assert.True(admission.TryAdmit("late", out _));
        Assert.Equal(0, admission.Waiting);
    }
}
