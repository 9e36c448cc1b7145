using Drover.Agent.Internal.Session;

namespace Drover.Agent.Tests;

public sealed class HubSelectorTests
{
    private static readonly string[] ThreeHubs = ["hub-a.example:7400", "hub-b.example:7400", "hub-c.example:7400"];

    [Fact]
    public void Order_is_stable_and_independent_of_the_list_order()
    {
        var first = HubSelector.Rank("web-01", ThreeHubs);
        var again = HubSelector.Rank("web-01", ThreeHubs);
        var shuffled = HubSelector.Rank("web-01", ThreeHubs.Reverse().ToArray());

        Assert.Equal(first, again);
        Assert.Equal(first, shuffled);
        Assert.Equal(3, first.Length);
        Assert.Equal(HubSelector.Score("web-01", ThreeHubs[0]), HubSelector.Score("web-01", ThreeHubs[0]));
    }

    [Fact]
    public void Ten_thousand_ids_spread_evenly_over_three_hubs()
    {
        var counts = Enumerable.Range(0, 10_000)
            .Select(i => HubSelector.Rank($"agent-{i:D5}", ThreeHubs)[0])
            .GroupBy(h => h)
            .ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(3, counts.Count);
        var even = 10_000 / 3.0;
        Assert.All(counts.Values, c => Assert.InRange(c, even * 0.95, even * 1.05));
    }

    [Fact]
    public void Removing_a_hub_moves_only_the_agents_that_preferred_it()
    {
        string[] four = ["h1:7400", "h2:7400", "h3:7400", "h4:7400"];
        string[] without = ["h1:7400", "h2:7400", "h4:7400"];
        var moved = 0;
        for (var i = 0; i < 2000; i++)
        {
            var id = $"node-{i}";
            var before = HubSelector.Rank(id, four);
            var after = HubSelector.Rank(id, without);
            if (before[0] == "h3:7400")
            {
                moved++;
                Assert.Equal(before[1], after[0]); // its old second choice
            }
            else
            {
                Assert.Equal(before[0], after[0]);
            }

            Assert.Equal(before.Where(h => h != "h3:7400"), after); // the rest of the order is kept
        }

        Assert.InRange(moved, 400, 600); // about a quarter
    }

    [Fact]
    public void Failed_attempts_walk_the_order_and_wrap_around()
    {
        var selector = new HubSelector("web-01", ThreeHubs);
        var order = selector.Order;

        Assert.Equal(order[0], selector.Current);
        selector.OnConnectFailed();
        Assert.Equal(order[1], selector.Current);
        selector.OnConnectFailed();
        Assert.Equal(order[2], selector.Current);
        selector.OnConnectFailed();
        Assert.Equal(order[0], selector.Current);
    }

    [Fact]
    public void A_short_session_moves_on_and_a_long_session_on_a_fallback_returns_to_the_preferred_hub()
    {
        var selector = new HubSelector("web-01", ThreeHubs, TimeSpan.FromSeconds(60));
        var order = selector.Order;

        selector.OnSessionEnded(TimeSpan.FromMinutes(10)); // the preferred hub died after a long session
        Assert.Equal(order[1], selector.Current);
        selector.OnSessionEnded(TimeSpan.FromSeconds(5)); // the fallback dropped us quickly
        Assert.Equal(order[2], selector.Current);
        selector.OnSessionEnded(TimeSpan.FromMinutes(10)); // a long stay on a fallback: try the preferred again
        Assert.Equal(order[0], selector.Current);
    }

    [Fact]
    public void Replace_ranks_the_new_list_and_starts_from_its_preferred_hub()
    {
        var selector = new HubSelector("web-01", ThreeHubs);
        selector.OnConnectFailed();
        string[] redirected = ["x:1", "y:2", "x:1"];

        selector.Replace(redirected);

        Assert.Equal(2, selector.Order.Count);
        Assert.Equal(HubSelector.Rank("web-01", redirected)[0], selector.Current);
        Assert.Equal(0, selector.Position);
    }
}
