using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>Statements prepared once on the write connection, keyed by their text, and reused by every
/// later write: only parameter values change. Owned by the store; used only while its write lock is held.</summary>
internal sealed class PreparedCommands(SqliteConnection connection, int commandTimeoutSeconds) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The prepared command for <paramref name="sql"/>, enlisted in <paramref name="transaction"/>.</summary>
    public SqliteCommand Get(string sql, SqliteTransaction transaction)
    {
        if (!_commands.TryGetValue(sql, out SqliteCommand? command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            command.CommandTimeout = commandTimeoutSeconds;
            command.Prepare();
            _commands.Add(sql, command);
        }

        command.Transaction = transaction;
        return command;
    }

    public void Dispose()
    {
        foreach (SqliteCommand command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}

/// <summary>Parameter binding for reused commands: the parameter is added the first time, its value set after.</summary>
internal static class CommandParameters
{
    public static SqliteCommand Bind(this SqliteCommand command, string name, SqliteType type, object? value)
    {
        // One lookup by name (Contains and the indexer would each search).
        int index = command.Parameters.IndexOf(name);
        if (index >= 0)
        {
            command.Parameters[index].Value = value ?? DBNull.Value;
        }
        else
        {
            command.Parameters.Add(name, type).Value = value ?? DBNull.Value;
        }

        return command;
    }
}
