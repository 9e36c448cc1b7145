using Drover.Protocol;

namespace Drover.Agent.Internal.Session;

/// <summary>How a connection attempt or session ended; the run loop decides from it where and when to try next.</summary>
internal readonly record struct SessionOutcome(
    DisconnectReason Reason,
    ErrorCode Code,
    string Detail,
    TimeSpan RetryAfter = default,
    bool Welcomed = false,
    TimeSpan Length = default,
    IReadOnlyList<string>? RedirectHubs = null);
