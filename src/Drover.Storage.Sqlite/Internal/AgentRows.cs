using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>How agent and history rows map to columns: times as unix milliseconds (UTC), unsigned
/// integers as their signed bit pattern, presence as its lower-case name, labels as a JSON object.</summary>
internal static class AgentRows
{
    private const string EmptyLabels = "{}";

    public static string PresenceName(Presence presence) => presence switch
    {
        Presence.Online => "online",
        Presence.Late => "late",
        Presence.Lost => "lost",
        Presence.Stale => "stale",
        Presence.Retired => "retired",
        _ => throw new ArgumentOutOfRangeException(nameof(presence), presence, "Unknown presence."),
    };

    public static Presence ParsePresence(string name) => name switch
    {
        "online" => Presence.Online,
        "late" => Presence.Late,
        "lost" => Presence.Lost,
        "stale" => Presence.Stale,
        "retired" => Presence.Retired,
        _ => throw new InvalidDataException($"Unknown presence '{name}' in the agents table."),
    };

    public static long ToColumn(ulong value) => unchecked((long)value);

    public static ulong FromColumn(long value) => unchecked((ulong)value);

    public static long ToColumn(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static DateTimeOffset TimeFromColumn(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    public static string SerializeLabels(IReadOnlyDictionary<string, string>? labels) =>
        labels is null || labels.Count == 0
            ? EmptyLabels
            : JsonSerializer.Serialize(labels, StoreJsonContext.Default.IReadOnlyDictionaryStringString);

    public static Dictionary<string, string> DeserializeLabels(string json) =>
        json == EmptyLabels
            ? []
            : JsonSerializer.Deserialize(json, StoreJsonContext.Default.DictionaryStringString) ?? [];

    /// <summary>Reads one row selected with <see cref="Schema.AgentColumns"/>.</summary>
    public static AgentRecord Read(SqliteDataReader reader)
    {
        StatusRecord? status = null;
        if (!reader.IsDBNull(12))
        {
            status = new StatusRecord(
                FromColumn(reader.GetInt64(11)),
                reader.GetString(12),
                reader.IsDBNull(13) ? null : reader.GetInt32(13),
                reader.IsDBNull(14) ? EmptyLabels : reader.GetString(14),
                TimeFromColumn(reader.GetInt64(15)));
        }

        return new AgentRecord
        {
            Id = reader.GetString(0),
            Labels = DeserializeLabels(reader.GetString(1)),
            Address = reader.GetString(2),
            Version = reader.GetString(3),
            HubNode = reader.GetString(4),
            FirstSeen = TimeFromColumn(reader.GetInt64(5)),
            LastSeen = TimeFromColumn(reader.GetInt64(6)),
            Presence = ParsePresence(reader.GetString(7)),
            SessionEpoch = FromColumn(reader.GetInt64(8)),
            SlotOrdinal = reader.GetInt64(9),
            LastDisconnectReason = reader.IsDBNull(10) ? null : reader.GetString(10),
            Status = status,
        };
    }

    /// <summary>Reads one row selected with <see cref="Schema.SelectHistory"/>.</summary>
    public static StatusRecord ReadSample(SqliteDataReader reader) => new(
        FromColumn(reader.GetInt64(0)),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetInt32(2),
        reader.GetString(3),
        TimeFromColumn(reader.GetInt64(4)));
}
