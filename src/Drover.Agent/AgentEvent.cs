using Drover.Protocol;

namespace Drover.Agent;

/// <summary>The kind of an <see cref="AgentEvent"/>.</summary>
public enum AgentEventKind
{
    /// <summary>A connection attempt to <see cref="AgentEvent.Hub"/> started.</summary>
    Connecting = 0,

    /// <summary>The hub welcomed the agent; <see cref="DroverAgent.LastWelcome"/> holds the terms.</summary>
    Connected = 1,

    /// <summary>A connection attempt or session ended; <see cref="AgentEvent.Reason"/> says why and
    /// <see cref="AgentEvent.RetryIn"/> when the next attempt starts.</summary>
    Disconnected = 2,

    /// <summary>The hub changed the report interval or slot.</summary>
    Rescheduled = 3,

    /// <summary>The agent's run ended (cancelled, or a permanent refusal).</summary>
    Stopped = 4,

    /// <summary>The agent took a job (answered job_accepted); see <see cref="AgentEvent.JobId"/> and <see cref="AgentEvent.Attempt"/>.</summary>
    JobAccepted = 5,

    /// <summary>The agent turned a job down (job_busy); <see cref="AgentEvent.Detail"/> says why.</summary>
    JobBusy = 6,

    /// <summary>A job ended and its result waits for the hub; see <see cref="AgentEvent.Outcome"/> and
    /// <see cref="AgentEvent.Detail"/> (exit code, error).</summary>
    JobFinished = 7,

    /// <summary>The hub acknowledged a job's result; the agent forgot it and deleted the job's directory.</summary>
    JobAcknowledged = 8,
}

/// <summary>One lifecycle event of a <see cref="DroverAgent"/>, read from <see cref="DroverAgent.Events"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Time">When, by the agent's <see cref="AgentOptions.TimeProvider"/>.</param>
/// <param name="Hub">The hub ("host:port") involved, if any.</param>
/// <param name="Reason">For <see cref="AgentEventKind.Disconnected"/> and <see cref="AgentEventKind.Stopped"/>: why.</param>
/// <param name="Code">The hub's error code from refuse or bye, else <see cref="ErrorCode.None"/>.</param>
/// <param name="Detail">A human-readable detail (the hub's reason text, the socket error).</param>
/// <param name="RetryIn">For <see cref="AgentEventKind.Disconnected"/>: the delay before the next attempt.</param>
public sealed record AgentEvent(
    AgentEventKind Kind,
    DateTimeOffset Time,
    string? Hub,
    DisconnectReason Reason,
    ErrorCode Code,
    string? Detail,
    TimeSpan? RetryIn)
{
    /// <summary>For the job kinds: the job's id.</summary>
    public string? JobId { get; init; }

    /// <summary>For the job kinds: the attempt.</summary>
    public uint Attempt { get; init; }

    /// <summary>For <see cref="AgentEventKind.JobFinished"/>: how the job ended.</summary>
    public JobOutcome? Outcome { get; init; }
}
