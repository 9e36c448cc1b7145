namespace Drover.Protocol;

/// <summary>What an agent says it is doing, in each status report.</summary>
public enum AgentState : byte
{
    Unknown = 0,
    Idle = 1,
    Busy = 2,
    Draining = 3,
}
