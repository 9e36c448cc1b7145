namespace Drover.Storage;

/// <summary>The hub's view of an agent's liveness, decided by the liveness sweep.</summary>
public enum Presence
{
    /// <summary>Connected and reporting on its slot.</summary>
    Online = 0,
    /// <summary>Connected, but it missed its slot by more than the grace.</summary>
    Late = 1,
    /// <summary>Disconnected, or it missed several reports in a row.</summary>
    Lost = 2,
    /// <summary>Lost for longer than the stale age.</summary>
    Stale = 3,
    /// <summary>Lost for longer than the retire age; kept in the store, hidden from the default listing.</summary>
    Retired = 4,
}
