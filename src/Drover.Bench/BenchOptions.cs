using System.Net;

namespace Drover.Bench;

/// <summary>How the bench runs. Defaults: 10,000 agents, interval mode, 10 s interval, 60 s run.
/// With <see cref="Jobs"/> &gt; 0 it runs job mode instead: end-to-end job dispatch through the HTTP API.</summary>
public sealed record BenchOptions
{
    /// <summary>Agents in job mode when none are asked for (the CLI's default there).</summary>
    public const int DefaultJobAgents = 100;

    /// <summary>The largest job file the bench sends: the hub's own ceiling (16 MiB).</summary>
    public const int MaxFileSize = 16 * 1024 * 1024;

    public int Agents { get; init; } = 10_000;

    /// <summary>Job mode: submit this many jobs through <c>POST /api/jobs</c> and measure them end to end
    /// (submit → result committed). 0 (default): the status-report modes.</summary>
    public int Jobs { get; init; }

    /// <summary>Job mode: the size of each job's file. Default 4 KiB.</summary>
    public int FileSize { get; init; } = 4 * 1024;

    /// <summary>Job mode: files per request; above 1 a multipart/form-data request, 1 a raw-body request per file. Default 500.</summary>
    public int Batch { get; init; } = 100;

    /// <summary>Job mode: submission paced at this many jobs per second (open loop); null (default): as fast as the hub takes them.</summary>
    public double? Rate { get; init; }

    /// <summary>Job mode: the job slots each simulated agent advertises (hello.job_slots). Default 8.</summary>
    public int JobSlots { get; init; } = 8;

    /// <summary>Job mode: how many different files the jobs carry, job i the file i mod this (a file sent to many agents, as
    /// a fleet's operator sends one script to all); null (default): every job a file of its own. Each run's files (the
    /// warm-up rounds' and the measured run's) differ from every other run's.</summary>
    public int? DistinctFiles { get; init; }

    /// <summary>Job mode: requests in flight at once (one submitter each). Default 4.</summary>
    public int Submitters { get; init; } = 4;

    /// <summary>Job mode: jobs submitted and finished in each of three warm-up rounds before the measured run,
    /// so that one-time costs (compiling the API and dispatch code to its final tier, the store's first pages)
    /// are not charged to it. Default 5,000; 0 for none.</summary>
    public int WarmUpJobs { get; init; } = 5_000;

    /// <summary>Job mode: how long after the last submission the bench waits for results before it counts
    /// the missing ones as lost. Default 30 s.</summary>
    public TimeSpan JobDrain { get; init; } = TimeSpan.FromSeconds(30);

    public bool JobMode => Jobs > 0;

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

    /// <summary>The external hub's API token (submit scope for the jobs mode; read for the fleet figures).</summary>
    public string? ApiToken { get; init; }

    public string Token { get; init; } = "bench-token";

    /// <summary>The simulated agents' ids are this, a dash and a six-digit number: two bench processes against one hub
    /// need different prefixes (the same ids would take each other's sessions over).</summary>
    public string IdPrefix { get; init; } = "bench";

    /// <summary>The agent port over TLS, as <c>drover serve</c> has it by default (the simulated agents pin the bench
    /// hub's key); without it the bench's hub runs with <c>--insecure</c> (plain TCP).</summary>
    public bool Tls { get; init; }

    /// <summary>An external hub's key fingerprint: the simulated agents speak TLS to it and pin it.</summary>
    public string? HubFingerprint { get; init; }

    /// <summary>Hellos the bench's own hub admits per second (its --admit-rate); null: the hub's default.</summary>
    public int? AdmitRate { get; init; }

    /// <summary>Handshakes in progress at once while connecting. Default 1,000.</summary>
    public int ConnectConcurrency { get; init; } = 1_000;

    /// <summary>Agents per source address in 127.0.0.0/8. Default 5,000: the ephemeral range holds about 28,000 ports per
    /// address, but Linux picks a connecting socket's port among the even ones first and checks each candidate against the
    /// connections open, so past about 14,000 connections from one address to the hub every connect scans thousands of
    /// ports (19,000 agents took 14-17 s to connect, the bench's own kernel time, against 5-6.5 s from 5,000 per address).</summary>
    public int AgentsPerSourceAddress { get; init; } = 5_000;

    /// <summary>Extra environment for the bench's own hub process.</summary>
    public IReadOnlyDictionary<string, string> HubEnvironment { get; init; } = new Dictionary<string, string>();

    public string Mode => JobMode ? "jobs" : ClosedLoop ? "closed-loop" : RestartAt is not null ? "restart" : Naive ? "naive" : "interval";

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

        if (Hub is not null && Tls)
        {
            throw new ArgumentException("--tls is for the bench's own hub; an external TLS hub is given by --hub-fingerprint");
        }

        if (Hub is null && HubFingerprint is not null)
        {
            throw new ArgumentException("--hub-fingerprint is for an external hub (--hub); the bench's own hub is TLS with --tls");
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

        ValidateJobs();
    }

    private void ValidateJobs()
    {
        if (Jobs < 0)
        {
            throw new ArgumentException("--jobs cannot be negative");
        }

        if (!JobMode)
        {
            return;
        }

        if (ClosedLoop || Naive || RestartAt is not null)
        {
            throw new ArgumentException("--jobs cannot be combined with --closed-loop, --naive or --restart-at");
        }

        if (FileSize < 1 || FileSize > MaxFileSize)
        {
            throw new ArgumentException($"--file-size must be between 1 byte and 16 MiB, got {FileSize:N0} bytes");
        }

        if (Batch < 1 || Batch > 10_000)
        {
            throw new ArgumentException($"--batch must be between 1 and 10,000 files per request, got {Batch:N0}");
        }

        if ((long)Batch * FileSize > 256L * 1024 * 1024)
        {
            throw new ArgumentException($"--batch {Batch:N0} of --file-size {FileSize:N0} bytes makes requests over 256 MiB; use a smaller batch");
        }

        if (Rate is { } rate && (!double.IsFinite(rate) || rate <= 0))
        {
            throw new ArgumentException("--rate must be a positive number of jobs per second");
        }

        if (JobSlots < 1 || JobSlots > ushort.MaxValue)
        {
            throw new ArgumentException($"--slots must be between 1 and {ushort.MaxValue:N0}, got {JobSlots:N0}");
        }

        if (DistinctFiles is < 1)
        {
            throw new ArgumentException($"--distinct-files must be at least 1, got {DistinctFiles:N0}");
        }

        if (Submitters < 1 || Submitters > 256)
        {
            throw new ArgumentException($"--submitters must be between 1 and 256, got {Submitters:N0}");
        }

        if (WarmUpJobs < 0)
        {
            throw new ArgumentException("--warmup-jobs cannot be negative");
        }

        if (JobDrain <= TimeSpan.Zero)
        {
            throw new ArgumentException("--drain must be positive");
        }
    }
}
