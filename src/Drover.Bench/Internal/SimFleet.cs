using System.Collections.Concurrent;
using System.Net;

namespace Drover.Bench.Internal;

/// <summary>The simulated agents and what they share: the hub address, the mode switches, the
/// latency histogram and the connected count.</summary>
internal sealed class SimFleet
{
    public static readonly IReadOnlyDictionary<string, string> Labels = new Dictionary<string, string> { ["sim"] = "bench" };

    private readonly ConcurrentQueue<string> _failures = new();
    private readonly int _agentsPerSource;
    private int _connected;
    private volatile bool _reporting;
    private volatile bool _hubKilled;
    private volatile JobTracker? _jobs;

    public SimFleet(IPEndPoint hub, string token, bool closedLoop, bool naive, int agents, int agentsPerSource, string idPrefix = "bench", int jobSlots = 0)
    {
        IdPrefix = idPrefix;
        JobSlots = jobSlots;
        HubEndPoint = hub;
        Token = token;
        ClosedLoop = closedLoop;
        Naive = naive;
        _agentsPerSource = agentsPerSource;
        Agents = Enumerable.Range(0, agents).Select(i => new SimAgent(this, i)).ToArray();
    }

    public IPEndPoint HubEndPoint { get; }

    public string IdPrefix { get; }

    public string Token { get; }

    /// <summary>How the simulated agents check the hub over TLS; null: plain TCP.</summary>
    public Drover.Agent.HubTrust? Trust { get; init; }

    public bool ClosedLoop { get; }

    public bool Naive { get; }

    /// <summary>Job slots each agent advertises; 0: status-only agents (no job buffers at all).</summary>
    public int JobSlots { get; }

    /// <summary>The jobs of the current phase (warm-up, then the measured run), which agents map job frames to.</summary>
    public JobTracker? Jobs
    {
        get => _jobs;
        set => _jobs = value;
    }

    public JobCounters Counters { get; } = new();

    public SimAgent[] Agents { get; }

    public LatencyHistogram Latency { get; private set; } = new();

    public int ConnectedCount => Volatile.Read(ref _connected);

    /// <summary>While false, agents stay quiet after their first report.</summary>
    public bool Reporting
    {
        get => _reporting;
        set => _reporting = value;
    }

    /// <summary>Set by the bench just before it kills the hub.</summary>
    public bool HubKilled
    {
        get => _hubKilled;
        set => _hubKilled = value;
    }

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Past <c>agentsPerSource</c> agents, each block connects from its own 127.0.0.x, so that no source address
    /// holds so many connections to the hub that choosing a port slows down or runs out. Null: the default.</summary>
    public IPAddress? SourceAddressFor(int index)
    {
        var block = index / _agentsPerSource;
        return block == 0 || !IPAddress.IsLoopback(HubEndPoint.Address) ? null : new IPAddress(new byte[] { 127, 0, 0, (byte)(1 + block) });
    }

    public void OnConnected(SimAgent agent) => Interlocked.Increment(ref _connected);

    public void OnDisconnected(SimAgent agent) => Interlocked.Decrement(ref _connected);

    public void Fail(string failure)
    {
        if (_failures.Count < 20)
        {
            _failures.Enqueue(failure);
        }
    }

    /// <summary>Starts a fresh latency histogram (at the start of the measured run).</summary>
    public void ResetLatency() => Latency = new LatencyHistogram();
}

/// <summary>What the fleet's agents counted while running jobs.</summary>
internal sealed class JobCounters
{
    /// <summary>Job frames whose content did not match their SHA-256.</summary>
    public long HashMismatches;

    /// <summary>Job frames that arrived while the agent still waited for the acks of job_slots results (the hub
    /// frees a slot when it commits a result and may send the next job before that ack: not an error).</summary>
    public long JobsBeforeAck;

    /// <summary>The most jobs one agent held at once (result sent, ack not yet received), the new one included.</summary>
    public long MaxHeld;

    /// <summary>Result acks for a job (or attempt) the agent did not hold.</summary>
    public long UnexpectedAcks;

    /// <summary>Job frames whose file name is not one of the current phase's.</summary>
    public long UnknownJobs;

    /// <summary>job_cancel frames received (the no-op handler has always finished already).</summary>
    public long Cancels;
}
