namespace Drover.Bench;

/// <summary>The arithmetic behind the bench's figures, kept pure so it is unit-tested.</summary>
public static class BenchMath
{
    /// <summary>The busiest second over the mean second: 1.0 is perfectly even. Zero when there were no arrivals.</summary>
    public static double PeakToMean(IReadOnlyList<long> perSecond)
    {
        if (perSecond.Count == 0)
        {
            return 0;
        }

        var mean = perSecond.Average();
        return mean == 0 ? 0 : perSecond.Max() / mean;
    }

    /// <summary>Reports lost: each agent's reports that were sent and never acknowledged, plus one for
    /// each agent whose final stored status is not the last one it had acknowledged (when known).</summary>
    public static long ReportsLost(IEnumerable<AgentTally> agents)
    {
        long lost = 0;
        foreach (var agent in agents)
        {
            lost += Math.Max(0, agent.Sent - agent.Acked - agent.InFlightAtKill);
            if (agent.StoredSequence is { } stored && agent.LastAckedSequence != 0 && stored != agent.LastAckedSequence)
            {
                lost++;
            }
        }

        return lost;
    }

    /// <summary>Microseconds of CPU per report (or per job); 0 when there were none.</summary>
    public static double CpuMicrosecondsPer(TimeSpan cpu, long count) => count <= 0 ? 0 : cpu.TotalMicroseconds / count;

    /// <summary>KiB per agent from two RSS readings in KiB; never negative.</summary>
    public static double KibPerAgent(long rssBeforeKib, long rssAfterKib, int agents) => agents <= 0 ? 0 : Math.Max(0, rssAfterKib - rssBeforeKib) / (double)agents;
}

/// <summary>One simulated agent's counts at the end of a run.</summary>
/// <param name="Sent">Status reports it sent.</param>
/// <param name="Acked">Reports the hub acknowledged.</param>
/// <param name="InFlightAtKill">Reports that were unacknowledged when the bench killed the hub (lost by design in a crash).</param>
/// <param name="LastAckedSequence">The highest sequence number acknowledged.</param>
/// <param name="StoredSequence">The sequence of the status the store holds after the run, or null if unknown.</param>
public readonly record struct AgentTally(long Sent, long Acked, long InFlightAtKill, ulong LastAckedSequence, ulong? StoredSequence);
