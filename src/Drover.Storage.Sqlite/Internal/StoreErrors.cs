using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>Turns SQLite errors into <see cref="StoreException"/>s that name the file and the cause.</summary>
internal static class StoreErrors
{
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteReadOnly = 8;
    private const int SqliteIoError = 10;
    private const int SqliteCorrupt = 11;
    private const int SqliteFull = 13;
    private const int SqliteCantOpen = 14;
    private const int SqliteNotADatabase = 26;

    public static StoreException Open(string path, SqliteException error) =>
        new($"Cannot open the store '{path}': {Describe(error)}", error) { IsFull = IsFull(error) };

    public static StoreException Read(string path, SqliteException error) =>
        new($"Reading the store '{path}' failed: {Describe(error)}", error) { IsFull = IsFull(error) };

    public static StoreException Write(string path, SqliteException error, string what) =>
        IsFull(error)
            ? new($"The store '{path}' is full: the disk (or the store's size cap) has no room left, so {what} was rolled back; none of it was written. [{error.Message}]", error) { IsFull = true }
            : new($"Writing to the store '{path}' failed; {what} was rolled back: {Describe(error)}", error);

    /// <summary>SQLITE_FULL: the disk has no room (SQLite reports ENOSPC as this) or the store hit max_page_count.</summary>
    private static bool IsFull(SqliteException error) => error.SqliteErrorCode == SqliteFull;

    private static string Describe(SqliteException error)
    {
        string cause = error.SqliteErrorCode switch
        {
            SqliteNotADatabase => "the file is not a SQLite database (or it is encrypted)",
            SqliteCorrupt => "the database file is damaged",
            SqliteCantOpen => "the file cannot be opened; check that the path names a file, not a directory, and that this process may write to it and to its directory",
            SqliteReadOnly => "the file or its directory is read-only for this process",
            SqliteBusy or SqliteLocked => "another connection or process held a lock on it for longer than the busy timeout",
            SqliteFull => "the disk is full",
            SqliteIoError => "the operating system reported an I/O error",
            _ => "SQLite reported an error",
        };
        return $"{cause}. [{error.Message}]";
    }
}
