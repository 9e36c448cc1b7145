using System.Net;

namespace Drover.Bench;

/// <summary>How the bench runs. Defaults: 10,000 agents, interval mode, 10 s interval, 60 s run.</summary>
public sealed record BenchOptions
{
    public int Agents { get; init; } = 10_000;

    /// <summary>The report interval the bench's own hub is started with (ignored for an external hub).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the measured run lasts after all agents connected and idled.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Each agent sends its next report as soon as the previous one is acknowledged.</summary>
    public bool ClosedLoop { get; init; }

    /// <summary>Agents ignore their slots and report at the top of each interval (what slots save).</summary>
    public bool Naive { get; init; }

    /// <summary>Kill -9 the hub this long into the run and start it again on the same data.</summary>
    public TimeSpan? RestartAt { get; init; }

    /// <summary>Agents that connect, report once and leave before the "before" memory reading, so that
    /// one-time costs (JIT, code pages, the store's first pages) are not charged per agent. Default 200; 0 for none.</summary>
    public int WarmUpAgents { get; init; } = 200;

    /// <summary>How long all agents stay idle before the memory reading. Default 5 s.</summary>
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An external hub to measure (then <see cref="HubPid"/> is needed for its /proc figures).</summary>
    public IPEndPoint? Hub { get; init; }

    public int? HubPid { get; init; }

    /// <summary>The external hub's HTTP API (for arrivals); default: the hub's address, port 7401.</summary>
    public Uri? HubApi { get; init; }

    public string Token { get; init; } = "bench-token";

    /// <summary>Hellos the bench's own hub admits per second (its --admit-rate); null: the hub's default.</summary>
    public int? AdmitRate { get; init; }

    /// <summary>Handshakes in progress at once while connecting. Default 1,000.</summary>
    public int ConnectConcurrency { get; init; } = 1_000;

    /// <summary>Agents per source address in 127.0.0.0/8 (the ephemeral port range holds about 28,000 per address).</summary>
    public int AgentsPerSourceAddress { get; init; } = 25_000;

    /// <summary>Extra environment for the bench's own hub process.</summary>
    public IReadOnlyDictionary<string, string> HubEnvironment { get; init; } = new Dictionary<string, string>();

    public string Mode => ClosedLoop ? "closed-loop" : RestartAt is not null ? "restart" : Naive ? "naive" : "interval";

    public void Validate()
    {
        if (Agents < 1)
        {
            throw new ArgumentException("--agents must be at least 1");
        }

        if (ClosedLoop && (Naive || RestartAt is not null))
        {
            throw new ArgumentException("--closed-loop cannot be combined with --naive or --restart-at");
        }

        if (Duration <= TimeSpan.Zero || Interval < TimeSpan.FromMilliseconds(100))
        {
            throw new ArgumentException("--duration must be positive and --interval at least 100ms");
        }

        if (RestartAt is { } at && (at <= TimeSpan.Zero || at >= Duration))
        {
            throw new ArgumentException("--restart-at must fall inside --duration");
        }

        if (Hub is not null && HubPid is null)
        {
            throw new ArgumentException("--hub needs --hub-pid so the bench can read the hub's /proc figures");
        }

        if (Hub is not null && RestartAt is not null)
        {
            throw new ArgumentException("--restart-at needs the bench's own hub (it kills and restarts it)");
        }

        if (WarmUpAgents < 0)
        {
            throw new ArgumentException("--warmup cannot be negative");
        }

        if (ConnectConcurrency < 1 || AgentsPerSourceAddress < 1)
        {
            throw new ArgumentException("--connect-concurrency must be positive");
        }
    }
}
