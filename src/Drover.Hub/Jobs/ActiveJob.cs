using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Jobs;

/// <summary>Where an <see cref="ActiveJob"/> stands in the hub's memory.</summary>
internal enum JobPhase
{
    /// <summary>In its target's queue, waiting for an agent.</summary>
    Queued,
    /// <summary>Placed on an agent; its lease is being committed (the job frame is sent after).</summary>
    Leasing,
    /// <summary>Leased to <see cref="ActiveJob.Owner"/> (its frame sent, or the agent is away).</summary>
    Running,
    /// <summary>Queued, and its expiry (target agent never came) is being committed.</summary>
    Expiring,
    /// <summary>Left memory: done, dead or cancelled.</summary>
    Gone,
}

/// <summary>A queued or running job in memory, its file kept only within the table's content budget (otherwise the
/// dispatch reads it from the store when it sends the job). Every mutable field is guarded by <see cref="JobTable.Lock"/>.</summary>
internal sealed class ActiveJob
{
    public ActiveJob(JobRecord record, long order, JobTarget target)
    {
        Record = record;
        Order = order;
        Target = target;
        TargetKey = target.ToString();
        Attempt = record.Attempt;
    }

    /// <summary>The id of the API token that submitted it, for the per-token cap on queued bytes; empty for a job loaded
    /// from the store at start (not counted against any token).</summary>
    public string Submitter { get; init; } = string.Empty;

    /// <summary>The job as submitted (or loaded), with an empty <see cref="JobRecord.Content"/>; its state fields are not
    /// kept current (see the fields below).</summary>
    public JobRecord Record { get; }

    public string Id => Record.Id;

    /// <summary>Submission order: the tie-break after priority.</summary>
    public long Order { get; }

    /// <summary>What it may run on.</summary>
    public JobTarget Target { get; }

    /// <summary>The key of the queue it waits in: its target's text.</summary>
    public string TargetKey { get; }

    public JobPhase Phase;

    /// <summary>Its file while it waits, when the table kept it in memory (<see cref="JobTable.TryHoldContentLocked"/>);
    /// null: the dispatch reads it from the store.</summary>
    public byte[]? Content;

    /// <summary>Its latest dispatch's number (0 before the first).</summary>
    public int Attempt;

    /// <summary>The agent holding the lease while leasing or running.</summary>
    public JobAgent? Owner;

    /// <summary>The agent of its last failed attempt: avoided when another candidate exists.</summary>
    public string? AvoidAgent;

    /// <summary>When it entered the queue (agent:ID jobs expire a timeout after it).</summary>
    public long QueuedAtTicks;

    public long LeaseExpiresTicks;

    /// <summary>When its current attempt's lease was committed (0: not leased by this hub since it started).</summary>
    public long LeasedAtTicks;

    /// <summary>When its owner's session went away (0: the owner holds it). After the disconnect grace it is requeued.</summary>
    public long DisconnectedSinceTicks;

    /// <summary>Bumped each time it is queued: a queue entry with an older stamp is stale.</summary>
    public int QueueStamp;

    /// <summary>The agent answered job_accepted for the current attempt (or re-announced it).</summary>
    public bool Accepted;

    /// <summary>Cancelled in the store; its slot stays counted until the agent's result or the lease expiry.</summary>
    public bool Cancelled;

    /// <summary>Its job frame is being written right now (a cancel that arrives meanwhile is sent after it).</summary>
    public bool Sending;

    /// <summary>A requeue of the current attempt is being committed.</summary>
    public bool Requeuing;

    /// <summary>Its file's size: what it counts against the queue's bytes.</summary>
    public long Size => Record.FileSize;
}
