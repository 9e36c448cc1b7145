using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Drover.Protocol;

/// <summary>The one conversion between status fields and a JSON object, used by the hub's store rows and API and by
/// the agent's <c>--status-command</c>. Written: bool → true/false, int and finite float → number, a non-finite
/// float → its text, string → string, null → null. Read: true/false → bool, a number that fits a 64-bit integer →
/// int, another number → float, string → string, null → null, an array or object → its raw JSON text.</summary>
public static class FieldJson
{
    /// <summary>The fields as one JSON object, in their order.</summary>
    public static string ToJson(IReadOnlyList<KeyValuePair<string, FieldValue>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, fields);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes the fields as one JSON object, in their order.</summary>
    public static void Write(Utf8JsonWriter writer, IReadOnlyList<KeyValuePair<string, FieldValue>> fields)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(fields);
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

    /// <summary>The fields of a JSON object, in their order (an empty or null text is an empty object). Throws
    /// <see cref="JsonException"/> when the text is not JSON.</summary>
    public static List<KeyValuePair<string, FieldValue>> Parse(string? json)
    {
        var fields = new List<KeyValuePair<string, FieldValue>>();
        using var document = JsonDocument.Parse(string.IsNullOrEmpty(json) ? "{}" : json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            fields.Add(new(property.Name, ReadValue(property.Value)));
        }

        return fields;
    }

    /// <summary>One JSON value as a field value.</summary>
    public static FieldValue ReadValue(JsonElement element) => element.ValueKind switch
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
