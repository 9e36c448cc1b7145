using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Fleet;

/// <summary>One agent in the live registry. Every mutable field is guarded by <c>lock (entry)</c>;
/// <see cref="Dirty"/> is the exception (Interlocked). Kept small: an idle agent costs this object,
/// its strings and its latest status.</summary>
internal sealed class AgentEntry
{
    public AgentEntry(string id, long slotOrdinal)
    {
        Id = id;
        SlotOrdinal = slotOrdinal;
    }

    public string Id { get; }

    public long SlotOrdinal { get; }

    public IReadOnlyDictionary<string, string> Labels = EmptyLabels;

    public string Address = string.Empty;

    public string Version = string.Empty;

    public long FirstSeenTicks;

    /// <summary>UTC ticks of the last hello or report: what liveness is measured from.</summary>
    public long LastSeenTicks;

    public Presence Presence = Presence.Lost;

    /// <summary>UTC ticks when the latest session was attached (0: none since start): how flapping detection sees a
    /// reconnect without keeping anything for ids that do not reconnect (<see cref="ReconnectFlapping"/>).</summary>
    public long AttachedTicks;

    public ulong Epoch;

    /// <summary>The live session, or null while disconnected.</summary>
    public AgentConnection? Session;

    /// <summary>The latest status report's payload, exactly as the agent sent it (validated). Kept as
    /// bytes, not decoded: a report costs one copy into this array, which is reused while the
    /// reports keep their size; it is decoded only when the API or the store asks.</summary>
    public byte[]? StatusPayload;

    public int StatusLength;

    public long StatusAtTicks;

    public string? LastDisconnectReason;

    /// <summary>How many jobs the agent runs at once, from its latest hello (0: it takes no jobs).</summary>
    public int JobSlots;

    /// <summary>True once the store holds this agent's row (its registration is durable).</summary>
    public bool Stored;

    /// <summary>A report arrived since the last flush: the flush appends one history sample.</summary>
    public bool HasUnflushedStatus;

    /// <summary>1 while the entry waits in the write-behind queue (Interlocked).</summary>
    public int Dirty;

    /// <summary>When the liveness sweep looks at this agent next (UTC ticks; 0: not queued). The sweep's own field
    /// (<see cref="LivenessDeadlines"/>).</summary>
    public long SweepDueTicks;

    public static readonly IReadOnlyDictionary<string, string> EmptyLabels = new Dictionary<string, string>();

    /// <summary>The latest status, decoded (call under the entry's lock).</summary>
    public Protocol.Status? DecodeStatus() =>
        StatusPayload is null ? null : (Protocol.Status)FrameCodec.Decode(MessageType.Status, StatusPayload.AsSpan(0, StatusLength));

    /// <summary>Stores a status payload, reusing the array when it is large enough (call under the lock).</summary>
    public void StoreStatus(ReadOnlySpan<byte> payload)
    {
        if (StatusPayload is null || StatusPayload.Length < payload.Length)
        {
            StatusPayload = new byte[payload.Length];
        }

        payload.CopyTo(StatusPayload);
        StatusLength = payload.Length;
    }
}
