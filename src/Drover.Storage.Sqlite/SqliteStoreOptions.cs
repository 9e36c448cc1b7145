namespace Drover.Storage.Sqlite;

/// <summary>Settings of a <see cref="SqliteFleetStore"/> or a <see cref="SqliteJobStore"/> (both may use the same file). Checked when the store is constructed.</summary>
public sealed record SqliteStoreOptions
{
    /// <summary>The default of <see cref="BusyTimeout"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The database file. A relative path is resolved against the current directory when the
    /// store is constructed; <see cref="SqliteFleetStore.InitializeAsync"/> creates the file and its parent
    /// directory. SQLite keeps two companion files next to it, "-wal" and "-shm". Required.</summary>
    public required string Path { get; init; }

    /// <summary>How long a statement waits for a lock held by another connection (another process on the
    /// same file, or a checkpoint) before it fails. Rounded up to whole seconds; must be positive.
    /// Default: <see cref="DefaultBusyTimeout"/> (5 seconds).</summary>
    public TimeSpan BusyTimeout { get; init; } = DefaultBusyTimeout;

    /// <summary>The clock that stamps rows the store writes on its own: <see cref="Storage.JobRecord.FinishedAt"/> of
    /// cancelled, requeued-to-dead and expired jobs, and the attempt history rows of requeues (the
    /// <see cref="SqliteFleetStore"/> stamps nothing itself). A hub passes its own clock so that hub and store agree.
    /// Default: <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Test hook: caps the database at this many pages (<c>PRAGMA max_page_count</c>) so that a
    /// test can provoke SQLITE_FULL without filling a disk. Null (the default): no cap.</summary>
    internal long? MaxPageCount { get; init; }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new ArgumentException("SqliteStoreOptions.Path must name a file.", nameof(Path));
        }

        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));

        if (BusyTimeout <= TimeSpan.Zero || BusyTimeout > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "SqliteStoreOptions.BusyTimeout must be positive and at most one day.");
        }

        if (MaxPageCount is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPageCount), MaxPageCount, "MaxPageCount must be positive.");
        }
    }
}
