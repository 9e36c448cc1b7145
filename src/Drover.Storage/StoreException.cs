namespace Drover.Storage;

/// <summary>A store operation failed: the store cannot be opened or created, it is not a Drover store,
/// it is full, or its I/O failed. The message names the store (its path or address) and the cause;
/// <see cref="Exception.InnerException"/> holds the driver's own error. A failed write changed nothing.
/// <see cref="IsFull"/> tells a full store (the disk, or the store's size cap) from every other failure.</summary>
public sealed class StoreException : Exception
{
    public StoreException()
    {
    }

    public StoreException(string message)
        : base(message)
    {
    }

    public StoreException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The store has no room left: its disk is full (SQLITE_FULL, ENOSPC) or it reached its size cap.
    /// Nothing of the failed write was stored, and writes succeed again once space is freed, without a restart.
    /// The HTTP API answers it with 507 Insufficient Storage.</summary>
    public bool IsFull { get; init; }
}
