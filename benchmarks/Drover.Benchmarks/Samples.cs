using Drover.Protocol;

namespace Drover.Benchmarks;

/// <summary>The messages the benchmarks encode and decode: what a typical agent sends.</summary>
internal static class Samples
{
    /// <summary>A typical report: sequence, state, progress and five fields (two loads, two memory
    /// figures, a short job name). 120 bytes on the wire, header included.</summary>
    public static Status Status(ulong sequence = 4_711) => new(
        sequence,
        AgentState.Busy,
        42,
        [
            new("load1", FieldValue.From(0.42)),
            new("load5", FieldValue.From(0.37)),
            new("mem_used_mb", FieldValue.From(1_843L)),
            new("mem_total_mb", FieldValue.From(7_962L)),
            new("job", FieldValue.From("nightly-build-4711")),
        ]);

    /// <summary>The payload of <see cref="Status"/> as the hub receives it (no frame header).</summary>
    public static byte[] StatusPayload(ulong sequence = 4_711) => FrameCodec.ToArray(Status(sequence))[ProtocolConstants.HeaderSize..];

    /// <summary>A typical hello: id, token, version, three labels, two capabilities.</summary>
    public static Hello Hello() => new(
        ProtocolConstants.MinVersion,
        ProtocolConstants.MaxVersion,
        "build-agent-0042",
        "s3cr3t-fleet-token",
        "0.1.0",
        new Dictionary<string, string> { ["zone"] = "eu-west-1a", ["role"] = "builder", ["os"] = "linux" },
        ["docker", "gpu"],
        4);
}
