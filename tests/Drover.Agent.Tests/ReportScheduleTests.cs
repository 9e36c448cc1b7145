using Drover.Agent.Internal.Reports;

namespace Drover.Agent.Tests;

public sealed class ReportScheduleTests
{
    [Theory]
    [InlineData(1000, 300, 12_345, 13_300)]
    [InlineData(1000, 300, 13_300, 13_300)] // exactly on a slot
    [InlineData(1000, 300, 13_301, 14_300)]
    [InlineData(1000, 0, 0, 0)]
    [InlineData(1000, 999, -5, 999 - 1000)] // hub times before the epoch still land on the slot
    [InlineData(60_000, 1_234, 120_000, 121_234)]
    public void Next_slot_is_the_first_hub_time_at_or_after_now_on_the_slot(uint interval, uint slot, long hubNow, long expected)
    {
        var schedule = new ReportSchedule(interval, slot, clockOffsetMs: 0);
        Assert.Equal(expected, schedule.NextSlotMs(hubNow, long.MinValue));
    }

    [Fact]
    public void A_slot_already_used_is_not_used_again()
    {
        var schedule = new ReportSchedule(1000, 300, 0);
        Assert.Equal(14_300, schedule.NextSlotMs(13_300, afterSlotMs: 13_300));
        Assert.Equal(14_300, schedule.NextSlotMs(13_000, afterSlotMs: 13_300));
    }

    [Fact]
    public void Delay_converts_hub_time_to_local_time_with_the_clock_offset()
    {
        var local = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var offset = ReportSchedule.ClockOffset(local.ToUnixTimeMilliseconds() + 12_345, local);
        var schedule = new ReportSchedule(1000, 300, offset);

        var hubNow = schedule.HubNowMs(local);
        var slot = schedule.NextSlotMs(hubNow, long.MinValue);

        Assert.Equal(12_345, offset);
        Assert.Equal(TimeSpan.FromMilliseconds(955), schedule.DelayUntil(slot, local));
        Assert.Equal(TimeSpan.Zero, schedule.DelayUntil(slot - 5000, local));
    }

    [Fact]
    public void Jitter_is_at_most_twenty_ms_and_one_percent_of_the_interval()
    {
        Assert.Equal(20, new ReportSchedule(60_000, 0, 0).MaxJitterMs);
        Assert.Equal(10, new ReportSchedule(1000, 0, 0).MaxJitterMs);
        Assert.Equal(1, new ReportSchedule(100, 0, 0).MaxJitterMs);
        var random = new Random(5);
        var schedule = new ReportSchedule(1000, 0, 0);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.InRange(schedule.Jitter(random), TimeSpan.Zero, TimeSpan.FromMilliseconds(10)));
    }

    [Fact]
    public void Tiny_intervals_are_raised_and_slots_are_reduced_modulo_the_interval()
    {
        var schedule = new ReportSchedule(0, 250, 0);
        Assert.Equal(ReportSchedule.MinIntervalMs, schedule.IntervalMs);
        Assert.Equal(50, schedule.SlotOffsetMs);
    }
}
