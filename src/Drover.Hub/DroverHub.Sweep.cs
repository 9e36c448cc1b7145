using Drover.Hub.Internal;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub;

public sealed partial class DroverHub
{
    private const int TrimAfterAgents = 1_000;
    private long _rescheduledAtTicks;
    private int _agentsAtLastTrim;
    private long _hellos;
    private long _hellosAtLastSweep;
    private int _quietSweeps;

    private async Task SweepLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.SweepInterval, Time);
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
                    Log.SessionBug(Logger, "sweep", ex);
                }

                try
                {
                    Jobs.Sweep(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SessionBug(Logger, "job sweep", ex);
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
    internal void Sweep()
    {
        var now = Time.GetUtcNow().UtcTicks;

        foreach (var connection in _pending.Keys)
        {
            if (now - connection.AcceptedTicks > Options.HandshakeTimeout.Ticks)
            {
                connection.Close(DisconnectReason.HandshakeTimeout, ErrorCode.HandshakeTimeout, $"no hello within {Options.HandshakeTimeout.TotalSeconds:0.#} s");
            }
        }

        foreach (var connection in _closing.Keys)
        {
            if (now - connection.ClosingSinceTicks > LingerAfterClose.Ticks)
            {
                connection.Dispose();
                _closing.TryRemove(connection, out _);
            }
        }

        if (Schedule.Update(Registry.Connected))
        {
            BroadcastSchedule();
        }

        SweepLiveness(now);
        Admission.ExpireReservations();
        TrimAfterBurst();
    }

    /// <summary>After a burst of connections settles (the fleet grew or shrank by at least
    /// <see cref="TrimAfterAgents"/> and no hello arrived for two sweeps), one aggressive, compacting
    /// GC returns the burst's garbage and free regions to the OS, so the hub's memory reflects the
    /// fleet it holds rather than the storm it survived. A connect storm happens at start and after
    /// restarts, not in steady state, so this costs one short pause now and then.</summary>
    private void TrimAfterBurst()
    {
        var agents = Registry.Count;
        var hellos = Volatile.Read(ref _hellos);
        if (Math.Abs(agents - _agentsAtLastTrim) < TrimAfterAgents)
        {
            _hellosAtLastSweep = hellos;
            return;
        }

        if (hellos != _hellosAtLastSweep)
        {
            _hellosAtLastSweep = hellos;
            _quietSweeps = 0;
            return;
        }

        if (++_quietSweeps < 2)
        {
            return;
        }

        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Log.TrimmedAfterBurst(Logger, agents, before / 1024 / 1024, GC.GetGCMemoryInfo().TotalCommittedBytes / 1024 / 1024);
        _agentsAtLastTrim = agents;
        _quietSweeps = 0;
    }

    private void BroadcastSchedule()
    {
        // An agent told a new schedule may stay silent for one new interval from now: liveness
        // counts from this moment for reports older than it.
        _rescheduledAtTicks = Time.GetUtcNow().UtcTicks;
        var interval = Schedule.IntervalMs;
        Log.IntervalChanged(Logger, interval, Registry.Connected, Options.MaxReportsPerSecond);
        foreach (var entry in Registry.Entries)
        {
            entry.Session?.Send(new Reschedule(interval, ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, interval)));
        }
    }

    private void SweepLiveness(long now)
    {
        var interval = TimeSpan.FromMilliseconds(Schedule.IntervalMs).Ticks;
        var grace = Options.LateGraceFor(TimeSpan.FromTicks(interval)).Ticks;
        var lostAfter = interval * Options.MissedReportsForLost + grace;
        var inGrace = InRestartGrace;
        int late = 0, lost = 0, stale = 0, retired = 0;

        foreach (var entry in Registry.Entries)
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
                    session.Close(DisconnectReason.MissedReports, ErrorCode.IdleTimeout, $"missed {Options.MissedReportsForLost} reports in a row");
                }
                else if (silent > interval + grace && presence == Presence.Online)
                {
                    late++;
                    Registry.SetPresence(entry, Presence.Late, null);
                }

                continue;
            }

            switch (presence)
            {
                case Presence.Online or Presence.Late when !inGrace:
                    // Loaded from the store at start and not back within the restart grace.
                    lost++;
                    Registry.SetPresence(entry, Presence.Lost, "did not reconnect after the hub restarted");
                    break;
                case Presence.Lost when silent > Options.StaleAfter.Ticks:
                    stale++;
                    Registry.SetPresence(entry, Presence.Stale, null);
                    break;
                case Presence.Stale when silent > Options.RetireAfter.Ticks:
                    retired++;
                    Registry.SetPresence(entry, Presence.Retired, null);
                    Registry.Remove(entry);
                    break;
            }
        }

        if (late + lost + stale + retired > 0)
        {
            Log.SweepChanges(Logger, late, lost, stale, retired);
        }
    }
}
