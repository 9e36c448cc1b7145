using System.Text.Json.Serialization;

namespace Drover.Storage.Sqlite.Internal;

/// <summary>Source-generated JSON for the labels column.</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext
{
}
