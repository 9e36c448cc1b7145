using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Status;

/// <summary>Converts status reports between the wire form and the stored form (fields as a JSON object, by
/// <see cref="FieldJson"/>).</summary>
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
        FieldJson.ToJson(status.Fields),
        new DateTimeOffset(receivedAtTicks, TimeSpan.Zero));

    public static Protocol.Status FromRecord(StatusRecord record) =>
        new(record.Sequence, ParseState(record.State), (byte)(record.Progress ?? ProtocolConstants.NoProgress), FieldJson.Parse(record.FieldsJson));
}
