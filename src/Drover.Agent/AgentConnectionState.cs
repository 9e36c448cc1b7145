namespace Drover.Agent;

/// <summary>Where a <see cref="DroverAgent"/> is in its connection lifecycle.</summary>
public enum AgentConnectionState
{
    /// <summary>No connection: not started, stopped, or waiting before the next attempt.</summary>
    Disconnected = 0,

    /// <summary>Connecting over TCP or waiting for the hub's answer to hello.</summary>
    Connecting = 1,

    /// <summary>Welcomed by a hub and reporting on its schedule.</summary>
    Connected = 2,
}
