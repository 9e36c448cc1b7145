using Drover.Hub.Fleet;

namespace Drover.Hub.Tests;

public sealed class LivenessDeadlinesTests
{
    [Fact]
    public void Agents_come_due_in_time_order_once_each_and_a_new_time_replaces_the_old()
    {
        var deadlines = new LivenessDeadlines();
        var a = new AgentEntry("a", 0);
        var b = new AgentEntry("b", 1);
        var c = new AgentEntry("c", 2);
        deadlines.Schedule(a, 30);
        deadlines.Schedule(b, 10);
        deadlines.Schedule(c, 20);
        deadlines.Schedule(a, 5); // moved earlier: the item at 30 is a leftover
        deadlines.Schedule(b, 40); // moved later: the item at 10 is a leftover

        var due = new List<string>();
        while (deadlines.TryTakeDue(25, out var entry))
        {
            due.Add(entry.Id);
        }

        Assert.Equal(["a", "c"], due);
        Assert.Equal(0, a.SweepDueTicks); // taken: not queued until scheduled again
        Assert.False(deadlines.TryTakeDue(35, out _)); // a's leftover at 30 is skipped
        Assert.True(deadlines.TryTakeDue(40, out var last));
        Assert.Same(b, last);
        Assert.Equal(0, deadlines.Count);
    }
}
