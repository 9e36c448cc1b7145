using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>Checks and migrates the one schema of a store file (see <see cref="Schema"/>), for both
/// <see cref="SqliteFleetStore"/> and <see cref="SqliteJobStore"/>: a foreign or newer file is refused
/// untouched; migrations run in one <c>BEGIN IMMEDIATE</c> transaction.</summary>
internal static class StoreSchema
{
    /// <summary>Returns the schema version, or throws when the file is a newer Drover store or a SQLite
    /// database that is not a Drover store (version 0 with tables in it).</summary>
    public static async Task<long> CheckIsOursAsync(SqliteConnection connection, string path, CancellationToken cancellationToken)
    {
        long version = (long)(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken).ConfigureAwait(false))!;
        if (version > Schema.CurrentVersion || version < 0)
        {
            throw new StoreException(
                $"The store '{path}' has schema version {version}; this Drover understands up to version {Schema.CurrentVersion}. " +
                "Use a newer Drover, or another file.");
        }

        if (version == 0)
        {
            long objects = (long)(await ScalarAsync(connection, "SELECT count(*) FROM sqlite_schema;", cancellationToken).ConfigureAwait(false))!;
            if (objects > 0)
            {
                throw new StoreException(
                    $"The store '{path}' is a SQLite database but not a Drover store: it has tables and no Drover schema version. " +
                    "It was left unchanged; choose another file.");
            }
        }

        return version;
    }

    /// <summary>Brings the file to <see cref="Schema.CurrentVersion"/>. SQLite errors are the caller's to map.</summary>
    public static async Task MigrateAsync(SqliteConnection connection, string path, CancellationToken cancellationToken)
    {
        if (await CheckIsOursAsync(connection, path, cancellationToken).ConfigureAwait(false) == Schema.CurrentVersion)
        {
            return;
        }

        // BEGIN IMMEDIATE: another connection migrating the same file waits, then sees its new version.
        using SqliteTransaction transaction = connection.BeginTransaction();
        long version = await CheckIsOursAsync(connection, path, cancellationToken).ConfigureAwait(false);
        for (long next = version; next < Schema.CurrentVersion; next++)
        {
            await ExecuteAsync(connection, Schema.Migrations[next], cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, "PRAGMA user_version = " + Schema.CurrentVersion.ToString(CultureInfo.InvariantCulture) + ";", cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        // CreateCommand enlists the command in the connection's current transaction, if any.
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
