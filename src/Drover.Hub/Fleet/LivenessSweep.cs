using Drover.Hub.Connections;
using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Fleet;

/// <summary>The liveness sweep: one periodic pass (<see cref="HubOptions.SweepInterval"/> on the hub's
/// <see cref="TimeProvider"/>) over every connection and agent, the only timer the agents cost. It also owns the
/// managed-restart grace (nobody is marked lost until one interval plus grace after a start).</summary>
internal sealed class LivenessSweep
{
    private const int TrimAfterAgents = 1_000;
    private const int TrimAfterConnections = 1_000;
    private readonly HubOptions _options;
    private readonly TimeProvider _time;
    private readonly AgentRegistry _registry;
    private readonly FleetStats _stats;
    private readonly ReportSchedule _schedule;
    private readonly AdmissionControl _admission;
    private readonly AgentSessions _sessions;
    private readonly JobDispatcher _jobs;
    private readonly ILogger _logger;
    private long _restartGraceUntilTicks;
    private long _rescheduledAtTicks;
    private int _agentsAtLastTrim;
    private long _hellosAtLastSweep;
    private long _acceptedAtLastTrim;
    private long _acceptedAtLastSweep;
    private int _quietSweeps;

    public LivenessSweep(
        HubOptions options,
        AgentRegistry registry,
        FleetStats stats,
        ReportSchedule schedule,
        AdmissionControl admission,
        AgentSessions sessions,
        JobDispatcher jobs,
        ILogger<LivenessSweep> logger)
    {
        _options = options;
        _time = options.TimeProvider;
        _registry = registry;
        _stats = stats;
        _schedule = schedule;
        _admission = admission;
        _sessions = sessions;
        _jobs = jobs;
        _logger = logger;
    }

    /// <summary>True until one interval plus grace has passed since <see cref="BeginRestartGrace"/>.</summary>
    public bool InRestartGrace => _time.GetUtcNow().UtcTicks < Volatile.Read(ref _restartGraceUntilTicks);

    /// <summary>Managed restart: nobody is marked lost before <paramref name="until"/>.</summary>
    public void BeginRestartGrace(DateTimeOffset until) => Volatile.Write(ref _restartGraceUntilTicks, until.UtcTicks);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    Sweep();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SessionBug(_logger, "sweep", ex);
                }

                try
                {
                    _jobs.Sweep(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SessionBug(_logger, "job sweep", ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One pass over every connection and agent: handshake timeouts, lingering closes,
    /// interval stretching, and liveness (online → late → lost → stale → retired). The only timer
    /// the hub has for its agents.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow().UtcTicks;

        _sessions.SweepConnections(now);

        if (_schedule.Update(_registry.Connected))
        {
            BroadcastSchedule();
        }

        SweepLiveness(now);
        _admission.ExpireReservations();
        TrimAfterBurst();
    }

    /// <summary>After a burst of connections settles (the fleet grew or shrank by at least
    /// <see cref="TrimAfterAgents"/>, or at least <see cref="TrimAfterConnections"/> sockets were accepted, and
    /// neither a hello nor a socket arrived for two sweeps), one aggressive, compacting GC returns the burst's garbage
    /// and free regions to the OS, so the hub's memory reflects the fleet it holds rather than the storm it survived.
    /// A connect storm happens at start and after restarts, a flood of short hostile connections (issue 10's fuzzing
    /// test: 10,000 of them left the GC holding twice its committed memory, +30 % RSS, with the fleet unchanged) when
    /// someone attacks; neither in steady state, so this costs one short pause now and then.</summary>
    private void TrimAfterBurst()
    {
        var agents = _registry.Count;
        var hellos = _stats.Hellos;
        var accepted = _sessions.Limits.Accepted;
        if (Math.Abs(agents - _agentsAtLastTrim) < TrimAfterAgents && accepted - _acceptedAtLastTrim < TrimAfterConnections)
        {
            _hellosAtLastSweep = hellos;
            _acceptedAtLastSweep = accepted;
            return;
        }

        if (hellos != _hellosAtLastSweep || accepted != _acceptedAtLastSweep)
        {
            _hellosAtLastSweep = hellos;
            _acceptedAtLastSweep = accepted;
            _quietSweeps = 0;
            return;
        }

        if (++_quietSweeps < 2)
        {
            return;
        }

        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Log.TrimmedAfterBurst(_logger, agents, before / 1024 / 1024, GC.GetGCMemoryInfo().TotalCommittedBytes / 1024 / 1024);
        _agentsAtLastTrim = agents;
        _acceptedAtLastTrim = accepted;
        _quietSweeps = 0;
    }

    private void BroadcastSchedule()
    {
        // An agent told a new schedule may stay silent for one new interval from now: liveness
        // counts from this moment for reports older than it.
        _rescheduledAtTicks = _time.GetUtcNow().UtcTicks;
        var interval = _schedule.IntervalMs;
        Log.IntervalChanged(_logger, interval, _registry.Connected, _options.MaxReportsPerSecond);
        foreach (var entry in _registry.Entries)
        {
            entry.Session?.Send(new Reschedule(interval, ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, interval)));
        }
    }

    private void SweepLiveness(long now)
    {
        var interval = TimeSpan.FromMilliseconds(_schedule.IntervalMs).Ticks;
        var grace = _options.LateGraceFor(TimeSpan.FromTicks(interval)).Ticks;
        var lostAfter = interval * _options.MissedReportsForLost + grace;
        var inGrace = InRestartGrace;
        int late = 0, lost = 0, stale = 0, retired = 0;

        foreach (var entry in _registry.Entries)
        {
            AgentConnection? session;
            Presence presence;
            long silent;
            lock (entry)
            {
                session = entry.Session;
                presence = entry.Presence;
                silent = now - (session is null ? entry.LastSeenTicks : Math.Max(entry.LastSeenTicks, _rescheduledAtTicks));
            }

            if (session is not null)
            {
                if (silent > lostAfter && !inGrace)
                {
                    lost++;
                    session.Close(DisconnectReason.MissedReports, ErrorCode.IdleTimeout, $"missed {_options.MissedReportsForLost} reports in a row");
                }
                else if (silent > interval + grace && presence == Presence.Online)
                {
                    late++;
                    _registry.SetPresence(entry, Presence.Late, null);
                }

                continue;
            }

            switch (presence)
            {
                case Presence.Online or Presence.Late when !inGrace:
                    // Loaded from the store at start and not back within the restart grace.
                    lost++;
                    _registry.SetPresence(entry, Presence.Lost, "did not reconnect after the hub restarted");
                    break;
                case Presence.Lost when silent > _options.StaleAfter.Ticks:
                    stale++;
                    _registry.SetPresence(entry, Presence.Stale, null);
                    break;
                case Presence.Stale when silent > _options.RetireAfter.Ticks:
                    retired++;
                    _registry.SetPresence(entry, Presence.Retired, null);
                    _registry.Remove(entry);
                    break;
            }
        }

        if (late + lost + stale + retired > 0)
        {
            Log.SweepChanges(_logger, late, lost, stale, retired);
        }
    }
}
