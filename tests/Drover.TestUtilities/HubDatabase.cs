using Microsoft.Data.Sqlite;

namespace Drover.TestUtilities;

/// <summary>Reads a hub's SQLite file directly (its tables are in src/Drover.Storage.Sqlite/Internal/Schema.cs), to
/// check what is durably stored rather than what the API shows. One unpooled connection, closed on dispose, so
/// the test can delete the file afterwards. Safe while the hub runs (WAL: readers do not block the writer).</summary>
public sealed class HubDatabase : IDisposable
{
    private readonly SqliteConnection _connection;

    public HubDatabase(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "drover.db");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no hub database at {path}");
        }

        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _connection.Open();
    }

    /// <summary>The first column of the first row (null when there is none), with <c>$p0</c>, <c>$p1</c>... bound to
    /// <paramref name="parameters"/>.</summary>
    public object? Scalar(string sql, params object[] parameters)
    {
        using var command = Command(sql, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public long Count(string sql, params object[] parameters) => Convert.ToInt64(Scalar(sql, parameters) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Every row, each as its column values (DBNull as null).</summary>
    public List<object?[]> Rows(string sql, params object[] parameters)
    {
        using var command = Command(sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    public int Execute(string sql, params object[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();

    private SqliteCommand Command(string sql, object[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters.AddWithValue("$p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), parameters[i]);
        }

        return command;
    }
}
