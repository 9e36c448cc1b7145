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

    /// <summary>How often every agent is looked at, whatever its deadline.</summary>
    private static readonly TimeSpan FullPassEvery = TimeSpan.FromMinutes(1);
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
    private readonly LivenessDeadlines _deadlines = new();
    private long _fullPassAtTicks;

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
            _fullPassAtTicks = 0;
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

        // A session not yet welcomed must not get a frame before its welcome; it checks the interval again after sending
        // the welcome (AgentConnection.SendWelcome). The fence orders the interval's store before the reads of the flag.
        Interlocked.MemoryBarrier();
        foreach (var entry in _registry.Entries)
        {
            if (entry.Session is { IsWelcomed: true } session)
            {
                session.Send(new Reschedule(interval, ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, interval)));
            }
        }
    }

    /// <summary>Liveness: every agent whose deadline passed, or whose session changed, is looked at and queued again at
    /// its next deadline (<see cref="LivenessDeadlines"/>); every agent is looked at in a full pass at the first sweep,
    /// when the schedule changed (the interval, hence every deadline, moved) and once every <see cref="FullPassEvery"/>
    /// (a safety net that costs one old-style pass a minute).</summary>
    private void SweepLiveness(long now)
    {
        var rules = new LivenessRules(_schedule.IntervalMs, _options, InRestartGrace, Volatile.Read(ref _restartGraceUntilTicks), _rescheduledAtTicks);
        var changes = default(LivenessChanges);
        if (now >= _fullPassAtTicks)
        {
            _deadlines.Clear();
            foreach (var entry in _registry.Entries)
            {
                Examine(entry, now, rules, ref changes);
            }

            _fullPassAtTicks = now + FullPassEvery.Ticks;
        }

        while (_registry.TryTakeSessionChange(out var changed))
        {
            // Queued again at once: an agent that reconnected has its next deadline one interval from now.
            if (_registry.IsCurrent(changed))
            {
                Examine(changed, now, rules, ref changes);
            }
        }

        while (_deadlines.TryTakeDue(now, out var due))
        {
            if (_registry.IsCurrent(due))
            {
                Examine(due, now, rules, ref changes);
            }
        }

        if (changes.Any)
        {
            Log.SweepChanges(_logger, changes.Late, changes.Lost, changes.Stale, changes.Retired);
        }
    }

    /// <summary>One agent: marks it late, closes it (lost), moves it to stale or retires it when its time came, then
    /// queues it at its next deadline (never this sweep again: at least one tick later).</summary>
    private void Examine(AgentEntry entry, long now, in LivenessRules rules, ref LivenessChanges changes)
    {
        AgentConnection? session;
        Presence presence;
        long lastSeen;
        lock (entry)
        {
            session = entry.Session;
            presence = entry.Presence;
            lastSeen = entry.LastSeenTicks;
        }

        long next;
        if (session is not null)
        {
            var since = Math.Max(lastSeen, rules.RescheduledAtTicks);
            var silent = now - since;
            if (silent > rules.LostAfter && !rules.InGrace)
            {
                changes.Lost++;
                session.Close(DisconnectReason.MissedReports, ErrorCode.IdleTimeout, $"missed {_options.MissedReportsForLost} reports in a row");
                next = now; // the close detaches it; until then, look again at the next sweep
            }
            else if (silent > rules.LateAfter && presence == Presence.Online)
            {
                changes.Late++;
                _registry.SetPresence(entry, Presence.Late, null);
                next = NextForLate(since, now, rules);
            }
            else
            {
                // Online: late one interval plus grace after its last report (a report since only moves that later).
                next = presence == Presence.Online ? After(since, rules.LateAfter) : NextForLate(since, now, rules);
            }
        }
        else
        {
            var silent = now - lastSeen;
            switch (presence)
            {
                case Presence.Online or Presence.Late when !rules.InGrace:
                    // Loaded from the store at start and not back within the restart grace.
                    changes.Lost++;
                    _registry.SetPresence(entry, Presence.Lost, "did not reconnect after the hub restarted");
                    next = After(lastSeen, _options.StaleAfter.Ticks);
                    break;
                case Presence.Online or Presence.Late:
                    next = rules.GraceUntilTicks;
                    break;
                case Presence.Lost when silent > _options.StaleAfter.Ticks:
                    changes.Stale++;
                    _registry.SetPresence(entry, Presence.Stale, null);
                    next = After(lastSeen, _options.RetireAfter.Ticks);
                    break;
                case Presence.Lost:
                    next = After(lastSeen, _options.StaleAfter.Ticks);
                    break;
                case Presence.Stale when silent > _options.RetireAfter.Ticks:
                    changes.Retired++;
                    _registry.SetPresence(entry, Presence.Retired, null);
                    _registry.Remove(entry);
                    return;
                case Presence.Stale:
                    next = After(lastSeen, _options.RetireAfter.Ticks);
                    break;
                default:
                    return;
            }
        }

        _deadlines.Schedule(entry, Math.Max(next, now + 1));
    }

    /// <summary>A late agent's next look: when it would be lost, or sooner if it may report and be late again meanwhile
    /// (back online at a report, it is late again one interval plus grace after it).</summary>
    private static long NextForLate(long since, long now, in LivenessRules rules) =>
        Math.Min(After(since, rules.LostAfter), After(now, rules.LateAfter));

    /// <summary>The first tick more than <paramref name="span"/> after <paramref name="since"/> (saturating).</summary>
    private static long After(long since, long span) => span >= long.MaxValue - since ? long.MaxValue : since + span + 1;

    /// <summary>One sweep's liveness thresholds, in ticks.</summary>
    private readonly struct LivenessRules
    {
        public LivenessRules(uint intervalMs, HubOptions options, bool inGrace, long graceUntilTicks, long rescheduledAtTicks)
        {
            var interval = TimeSpan.FromMilliseconds(intervalMs).Ticks;
            var grace = options.LateGraceFor(TimeSpan.FromTicks(interval)).Ticks;
            LateAfter = interval + grace;
            LostAfter = (interval * options.MissedReportsForLost) + grace;
            InGrace = inGrace;
            GraceUntilTicks = graceUntilTicks;
            RescheduledAtTicks = rescheduledAtTicks;
        }

        /// <summary>Silence after which a connected agent is late.</summary>
        public long LateAfter { get; }

        /// <summary>Silence after which a connected agent is lost (its session closed).</summary>
        public long LostAfter { get; }

        public bool InGrace { get; }

        public long GraceUntilTicks { get; }

        public long RescheduledAtTicks { get; }
    }

    /// <summary>What one sweep changed, for its log line.</summary>
    private struct LivenessChanges
    {
        public int Late;
        public int Lost;
        public int Stale;
        public int Retired;

        public readonly bool Any => Late + Lost + Stale + Retired > 0;
    }
}
