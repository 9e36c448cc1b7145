using System.Buffers;
using System.Text.Json;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Status;

/// <summary>Converts status reports between the wire form and the stored form (fields as a JSON object).</summary>
internal static class StatusConversions
{
    public static string StateName(AgentState state) => state switch
    {
        AgentState.Idle => "idle",
        AgentState.Busy => "busy",
        AgentState.Draining => "draining",
        _ => "unknown",
    };

    public static AgentState ParseState(string name) => name switch
    {
        "idle" => AgentState.Idle,
        "busy" => AgentState.Busy,
        "draining" => AgentState.Draining,
        _ => AgentState.Unknown,
    };

    public static StatusRecord ToRecord(Protocol.Status status, long receivedAtTicks) => new(
        status.Sequence,
        StateName(status.State),
        status.Progress == ProtocolConstants.NoProgress ? null : status.Progress,
        FieldsToJson(status.Fields),
        new DateTimeOffset(receivedAtTicks, TimeSpan.Zero));

    public static Protocol.Status FromRecord(StatusRecord record)
    {
        var fields = new List<KeyValuePair<string, FieldValue>>();
        using (var document = JsonDocument.Parse(string.IsNullOrEmpty(record.FieldsJson) ? "{}" : record.FieldsJson))
        {
            foreach (var property in document.RootElement.EnumerateObject())
            {
                fields.Add(new(property.Name, FromJson(property.Value)));
            }
        }

        return new Protocol.Status(record.Sequence, ParseState(record.State), (byte)(record.Progress ?? ProtocolConstants.NoProgress), fields);
    }

    public static string FieldsToJson(IReadOnlyList<KeyValuePair<string, FieldValue>> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteFields(writer, fields);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void WriteFields(Utf8JsonWriter writer, IReadOnlyList<KeyValuePair<string, FieldValue>> fields)
    {
        writer.WriteStartObject();
        foreach (var (key, value) in fields)
        {
            writer.WritePropertyName(key);
            switch (value.Kind)
            {
                case FieldKind.Bool:
                    writer.WriteBooleanValue(value.Integer != 0);
                    break;
                case FieldKind.Int:
                    writer.WriteNumberValue(value.Integer);
                    break;
                case FieldKind.Float when double.IsFinite(value.Number):
                    writer.WriteNumberValue(value.Number);
                    break;
                case FieldKind.Float:
                    writer.WriteStringValue(value.ToString());
                    break;
                case FieldKind.String:
                    writer.WriteStringValue(value.Text);
                    break;
                default:
                    writer.WriteNullValue();
                    break;
            }
        }

        writer.WriteEndObject();
    }

    private static FieldValue FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.True => FieldValue.From(true),
        JsonValueKind.False => FieldValue.From(false),
        JsonValueKind.Number when element.TryGetInt64(out var integer) => FieldValue.From(integer),
        JsonValueKind.Number => FieldValue.From(element.GetDouble()),
        JsonValueKind.String => FieldValue.From(element.GetString()!),
        JsonValueKind.Null => FieldValue.Null,
        _ => FieldValue.From(element.GetRawText()),
    };
}
