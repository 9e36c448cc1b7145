using Drover.Hub.Status;
using Drover.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>Which store failures the writers log: a full disk says so once, not once per write, and a nearly full disk
/// (large writes refused, small ones committed) does not log a failure and a recovery per refused request.</summary>
public sealed class StoreFailureLogTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static StoreException Full(string what) =>
        new($"The store 'x.db' is full: {what} was rolled back", new InvalidOperationException("SQLite Error 13: 'database or disk is full'.")) { IsFull = true };

    private static StoreException Io() =>
        new("Writing to the store 'x.db' failed", new InvalidOperationException("SQLite Error 10: 'disk I/O error'."));

    [Fact]
    public void A_long_outage_logs_its_start_once_a_minute_with_a_count_and_its_recovery()
    {
        var time = new FakeTimeProvider(Start);
        var log = new StoreFailureLog(time);
        var lines = new List<int>();
        for (var second = 0; second < 150; second++)
        {
            if (log.Failure(Full($"batch {second}"), out var count))
            {
                lines.Add(count);
            }

            time.Advance(TimeSpan.FromSeconds(1));
        }

        // Second 0, 60 and 120: the first failure, then the 60 and 60 since each line.
        Assert.Equal([1, 60, 60], lines);
        Assert.Equal(150, log.StreakFailures);
        Assert.True(log.Success(out var failures, out var duration));
        Assert.Equal((150, TimeSpan.FromSeconds(150)), (failures, duration));
        Assert.False(log.Success(out _, out _));
    }

    [Fact]
    public void A_nearly_full_disk_that_refuses_every_other_write_logs_at_most_a_failure_and_a_recovery_a_minute()
    {
        var time = new FakeTimeProvider(Start);
        var log = new StoreFailureLog(time);
        var logged = 0;
        for (var second = 0; second < 120; second++)
        {
            logged += log.Failure(Full("a large submission"), out _) ? 1 : 0;
            logged += log.Success(out _, out _) ? 1 : 0;
            time.Advance(TimeSpan.FromSeconds(1));
        }

        // Second 0 (failure + recovery) and second 60 (failure with 60 counted + recovery).
        Assert.Equal(4, logged);
    }

    [Fact]
    public void An_outage_soon_after_a_logged_one_is_logged_once_it_lasts_five_seconds_and_a_new_error_at_once()
    {
        var time = new FakeTimeProvider(Start);
        var log = new StoreFailureLog(time);
        Assert.True(log.Failure(Full("one"), out _));
        Assert.True(log.Success(out _, out _));

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(log.Failure(Full("two"), out _));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(log.Failure(Full("three"), out _));
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.True(log.Failure(Full("four"), out var count));
        Assert.Equal(3, count);

        Assert.True(log.Failure(Io(), out count));
        Assert.Equal(1, count);
        Assert.False(log.Failure(Io(), out _));
        Assert.True(log.Success(out var failures, out var duration));
        Assert.Equal((5, TimeSpan.FromSeconds(5)), (failures, duration));
    }

    [Fact]
    public void A_short_outage_soon_after_a_logged_one_ends_silently_and_is_counted_in_the_next_line()
    {
        var time = new FakeTimeProvider(Start);
        var log = new StoreFailureLog(time);
        Assert.True(log.Failure(Full("one"), out _));
        Assert.True(log.Success(out _, out _));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(log.Failure(Full("two"), out _));
        Assert.False(log.Success(out _, out _));

        time.Advance(TimeSpan.FromSeconds(60));
        Assert.True(log.Failure(Full("three"), out var count));
        Assert.Equal(2, count);
    }

    [Theory]
    [InlineData(0, 1_000)]
    [InlineData(1, 1_000)]
    [InlineData(2, 2_000)]
    [InlineData(3, 4_000)]
    [InlineData(4, 5_000)]
    [InlineData(1_000_000, 5_000)]
    public void The_status_writer_tries_again_after_1_2_4_then_every_5_seconds(int failures, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), StatusWriter.RetryDelay(failures, TimeSpan.FromSeconds(1)));

    [Theory]
    [InlineData(1, 1_000)]
    [InlineData(2, 2_000)]
    [InlineData(3, 4_000)]
    [InlineData(4, 5_000)]
    [InlineData(int.MaxValue, 5_000)]
    public void A_result_the_store_refused_is_tried_again_after_1_2_4_then_every_5_seconds(int tries, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), StoreFailureLog.RetryDelay(tries));
}
