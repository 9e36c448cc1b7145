using Drover.Agent.Internal;

namespace Drover.Agent.Tests;

public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(30);

    [Fact]
    public void Ceiling_doubles_per_attempt_up_to_the_cap_and_draws_stay_between_floor_and_ceiling()
    {
        var backoff = new ReconnectBackoff(Base, Cap);
        var random = new Random(1);
        var expected = new[] { 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
        foreach (var ceilingMs in expected)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(ceilingMs), backoff.Ceiling);
            var delay = backoff.Next(random);
            Assert.InRange(delay, Base / 2, TimeSpan.FromMilliseconds(ceilingMs));
        }

        Assert.Equal(6, backoff.Attempt); // stops counting at the cap
    }

    [Fact]
    public void At_the_cap_delays_stay_spread_over_the_whole_range()
    {
        var backoff = new ReconnectBackoff(Base, Cap);
        var random = new Random(12345);
        for (var i = 0; i < 20; i++)
        {
            backoff.Next(random);
        }

        Assert.Equal(Cap, backoff.Ceiling);
        var draws = Enumerable.Range(0, 1000).Select(_ => backoff.Next(random).TotalMilliseconds).ToArray();
        var cap = Cap.TotalMilliseconds;

        Assert.All(draws, d => Assert.InRange(d, Base.TotalMilliseconds / 2, cap));
        Assert.True(draws.Min() < 0.6 * cap, $"min {draws.Min()}");
        Assert.True(draws.Max() > 0.9 * cap, $"max {draws.Max()}");
        Assert.True(draws.Min() < 0.1 * cap, $"min {draws.Min()}: full jitter reaches down to the floor");

        // Uniform over [base/2, cap]: each tenth of the range holds about 100 of 1000 draws.
        var low = Base.TotalMilliseconds / 2;
        var buckets = new int[10];
        foreach (var d in draws)
        {
            buckets[Math.Min(9, (int)((d - low) / (cap - low) * 10))]++;
        }

        Assert.All(buckets, count => Assert.InRange(count, 60, 140));
        Assert.InRange(draws.Average(), 0.45 * cap, 0.56 * cap);
    }

    [Fact]
    public void Reset_starts_again_from_the_base()
    {
        var backoff = new ReconnectBackoff(Base, Cap);
        var random = new Random(2);
        for (var i = 0; i < 10; i++)
        {
            backoff.Next(random);
        }

        backoff.Reset();

        Assert.Equal(0, backoff.Attempt);
        Assert.Equal(Base, backoff.Ceiling);
        Assert.InRange(backoff.Next(random), Base / 2, Base);
    }

    [Fact]
    public void NextAtLeast_honours_the_minimum_with_a_little_jitter()
    {
        var backoff = new ReconnectBackoff(Base, Cap);
        var random = new Random(3);
        var minimum = TimeSpan.FromSeconds(5);
        var draws = Enumerable.Range(0, 200).Select(_ =>
        {
            backoff.Reset();
            return backoff.NextAtLeast(minimum, random);
        }).ToArray();

        Assert.All(draws, d => Assert.InRange(d, minimum, minimum + TimeSpan.FromSeconds(1)));
        Assert.True(draws.Max() - draws.Min() > TimeSpan.FromMilliseconds(500), "jitter spreads agents told the same retry-after");
    }

    [Fact]
    public void NextAtLeast_without_a_minimum_is_the_regular_draw()
    {
        var backoff = new ReconnectBackoff(Base, Cap);
        Assert.InRange(backoff.NextAtLeast(TimeSpan.Zero, new Random(4)), Base / 2, Base);
        Assert.Equal(1, backoff.Attempt);
    }
}
