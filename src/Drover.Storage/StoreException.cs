namespace Drover.Storage;

/// <summary>A store operation failed: the store cannot be opened or created, it is not a Drover store,
/// it is full, or its I/O failed. The message names the store (its path or address) and the cause;
/// <see cref="Exception.InnerException"/> holds the driver's own error. A failed write changed nothing.</summary>
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
}
