using System.Collections.Concurrent;
using Drover.Hub.Connections;
using Drover.Hub.Status;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Fleet;

/// <summary>The live list of agents, keyed by id. Sessions attach and detach here; presence changes
/// are ordered by session epoch, so a late detach of an old session never marks a newer one offline.
/// Every change marks the entry dirty for the write-behind <see cref="StatusWriter"/>.</summary>
internal sealed class AgentRegistry
{
    private readonly ConcurrentDictionary<string, AgentEntry> _agents = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<AgentEntry> _dirty = new();
    private readonly ConcurrentQueue<AgentEntry> _sessionChanges = new();
    private readonly TimeProvider _time;
    private readonly SharedStrings _strings = new();
    private long _nextOrdinal;
    private long _nextEpoch;
    private int _connected;

    public AgentRegistry(TimeProvider time)
    {
        _time = time;
        Events = new AgentEventLog(time);
    }

    /// <summary>The agents' connection events, written with the next flush.</summary>
    public AgentEventLog Events { get; }

    public int Count => _agents.Count;

    /// <summary>Agents with a live session.</summary>
    public int Connected => Volatile.Read(ref _connected);

    /// <summary>Every agent, enumerated without locking the dictionary or copying it (the sweep walks
    /// it every second; <c>Values</c> would take every bucket lock and copy all entries each time).
    /// Entries added or removed during the walk may or may not be seen.</summary>
    public IEnumerable<AgentEntry> Entries
    {
        get
        {
            foreach (var pair in _agents)
            {
                yield return pair.Value;
            }
        }
    }

    public bool TryGet(string id, out AgentEntry entry) => _agents.TryGetValue(id, out entry!);

    /// <summary>Loads the stored agents at start. Session epochs continue above both the stored maximum
    /// and the clock in microseconds, so they increase across restarts even if the store lost its tail.</summary>
    public void Load(IReadOnlyList<AgentRecord> records, ulong maxEpoch, long maxOrdinal)
    {
        foreach (var record in records)
        {
            var entry = new AgentEntry(record.Id, record.SlotOrdinal)
            {
                Labels = record.Labels,
                Address = record.Address,
                Version = record.Version,
                FirstSeenTicks = record.FirstSeen.UtcTicks,
                LastSeenTicks = record.LastSeen.UtcTicks,
                Presence = record.Presence,
                Epoch = record.SessionEpoch,
                LastDisconnectReason = record.LastDisconnectReason,
                Stored = true,
                StatusAtTicks = record.Status?.ReceivedAt.UtcTicks ?? 0,
            };
            if (record.Status is not null)
            {
                entry.StoreStatus(FrameCodec.ToArray(StatusConversions.FromRecord(record.Status)).AsSpan(ProtocolConstants.HeaderSize));
            }

            _agents[record.Id] = entry;
        }

        _nextOrdinal = Math.Max(maxOrdinal + 1, records.Count == 0 ? 0 : records.Max(r => r.SlotOrdinal) + 1);
        var clockMicros = (ulong)(_time.GetUtcNow().ToUnixTimeMilliseconds() * 1000);
        _nextEpoch = (long)Math.Max(maxEpoch, clockMicros);
    }

    /// <summary>Binds a new session to its agent, creating the agent on first contact. Returns the
    /// session that was replaced, if any: the caller closes it outside the lock.</summary>
    public AgentConnection? Attach(AgentConnection session, Hello hello, string address, out AgentEntry entry, out ulong epoch, out bool isNew)
    {
        var now = _time.GetUtcNow().UtcTicks;
        entry = _agents.GetOrAdd(hello.AgentId, id => new AgentEntry(id, Interlocked.Increment(ref _nextOrdinal) - 1) { FirstSeenTicks = now });
        _sessionChanges.Enqueue(entry);

        AgentConnection? replaced;
        Presence before;
        lock (entry)
        {
            replaced = entry.Session;
            before = entry.Presence;
            epoch = (ulong)Interlocked.Increment(ref _nextEpoch);
            entry.Epoch = epoch;
            entry.Session = session;
            entry.Labels = _strings.Labels(hello.Labels);
            entry.Version = _strings.Intern(hello.AgentVersion);
            entry.JobSlots = hello.JobSlots;
            entry.Address = address;
            entry.LastSeenTicks = now;
            entry.AttachedTicks = now;
            entry.Presence = Presence.Online;
            entry.LastDisconnectReason = null;
            isNew = !entry.Stored;
        }

        Events.Add(hello.AgentId, AgentEventKinds.SessionOpened, null,
            $"from {address}, version {hello.AgentVersion}, session epoch {epoch}" + (replaced is null ? string.Empty : $", taking over the session from {replaced.RemoteAddress}"));
        if (!isNew)
        {
            Events.PresenceChanged(hello.AgentId, before, Presence.Online);
        }

        if (replaced is null)
        {
            Interlocked.Increment(ref _connected);
        }

        MarkDirty(entry);
        return replaced;
    }

    /// <summary>Ends a session's hold on its agent. Does nothing when a newer session already took over.
    /// When the hub itself is stopping, presence is kept: the agent did nothing wrong, and the next
    /// hub start gives it the managed-restart grace to come back.</summary>
    public bool Detach(AgentEntry entry, ulong epoch, string reason, bool keepPresence = false)
    {
        lock (entry)
        {
            if (entry.Epoch != epoch || entry.Session is null)
            {
                return false;
            }

            entry.Session = null;
            var before = entry.Presence;
            if (!keepPresence)
            {
                entry.Presence = Presence.Lost;
            }

            entry.LastDisconnectReason = reason;
            var colon = reason.IndexOf(':', StringComparison.Ordinal);
            Events.Add(entry.Id, AgentEventKinds.SessionClosed, colon > 0 ? reason[..colon] : reason, reason);
            Events.PresenceChanged(entry.Id, before, entry.Presence);
        }

        Interlocked.Decrement(ref _connected);
        _sessionChanges.Enqueue(entry);
        MarkDirty(entry);
        return true;
    }

    /// <summary>An agent whose session was attached or detached since the last call (new agents included; an agent may
    /// come more than once): the liveness sweep looks at these at once, since their deadlines moved.</summary>
    public bool TryTakeSessionChange([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out AgentEntry entry) => _sessionChanges.TryDequeue(out entry);

    /// <summary>Whether <paramref name="entry"/> is the registered entry of its agent (not removed, not replaced).</summary>
    public bool IsCurrent(AgentEntry entry) => _agents.TryGetValue(entry.Id, out var current) && ReferenceEquals(current, entry);

    /// <summary>Records a report (its validated payload) from the session with <paramref name="epoch"/>;
    /// false if that session was superseded.</summary>
    public bool RecordStatus(AgentEntry entry, ulong epoch, ReadOnlySpan<byte> payload) => RecordStatus(entry, epoch, payload, out _);

    /// <summary>As <see cref="RecordStatus(AgentEntry, ulong, ReadOnlySpan{byte})"/>, and tells when the report came
    /// against the agent's previous report and session (for the arrival-lag metric).</summary>
    public bool RecordStatus(AgentEntry entry, ulong epoch, ReadOnlySpan<byte> payload, out ReportArrival arrival)
    {
        var now = _time.GetUtcNow().UtcTicks;
        lock (entry)
        {
            if (entry.Epoch != epoch)
            {
                arrival = default;
                return false;
            }

            arrival = new ReportArrival(now, entry.StatusAtTicks, Volatile.Read(ref entry.AttachedTicks));
            entry.StoreStatus(payload);
            entry.StatusAtTicks = now;
            entry.LastSeenTicks = now;
            if (entry.Presence != Presence.Online)
            {
                // A change only (late back to online): a plain report makes no event.
                Events.PresenceChanged(entry.Id, entry.Presence, Presence.Online);
            }

            entry.Presence = Presence.Online;
            entry.HasUnflushedStatus = true;
        }

        MarkDirty(entry);
        return true;
    }

    /// <summary>Changes presence from the sweep; returns false if the entry changed meanwhile.</summary>
    public void SetPresence(AgentEntry entry, Presence presence, string? reason)
    {
        lock (entry)
        {
            Events.PresenceChanged(entry.Id, entry.Presence, presence, reason);
            entry.Presence = presence;
            if (reason is not null)
            {
                entry.LastDisconnectReason = reason;
            }
        }

        MarkDirty(entry);
    }

    /// <summary>Removes a retired agent from memory; the store keeps its row.</summary>
    public void Remove(AgentEntry entry) => _agents.TryRemove(new KeyValuePair<string, AgentEntry>(entry.Id, entry));

    public void MarkDirty(AgentEntry entry)
    {
        if (Interlocked.Exchange(ref entry.Dirty, 1) == 0)
        {
            _dirty.Enqueue(entry);
        }
    }

    /// <summary>Entries waiting for the next flush.</summary>
    public int DirtyCount => _dirty.Count;

    /// <summary>Takes every dirty entry (each once) for the next flush.</summary>
    public List<AgentEntry> DrainDirty()
    {
        var batch = new List<AgentEntry>(_dirty.Count);
        while (_dirty.TryDequeue(out var entry))
        {
            Interlocked.Exchange(ref entry.Dirty, 0);
            batch.Add(entry);
        }

        return batch;
    }
}

/// <summary>When a report was recorded (<paramref name="NowTicks"/>), when the agent's previous one was
/// (<paramref name="PreviousTicks"/>, 0 for none) and when its session began (<paramref name="AttachedTicks"/>); UTC ticks.</summary>
internal readonly record struct ReportArrival(long NowTicks, long PreviousTicks, long AttachedTicks);
