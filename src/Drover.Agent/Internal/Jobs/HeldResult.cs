using Drover.Agent.Internal.Session;
using Drover.Protocol;

namespace Drover.Agent.Internal.Jobs;

/// <summary>A finished job's result, kept until the hub acknowledges it. The out file stays on disk in
/// <see cref="Directory"/> and is read each time the result is sent. <see cref="SentOn"/> (under
/// <see cref="JobSlots"/>' gate) is the connection it last went out on, so it goes once per session.</summary>
internal sealed class HeldResult(
    JobKey key,
    JobOutcome outcome,
    int exitCode,
    uint durationMs,
    byte[] stdout,
    byte[] stderr,
    string? outPath,
    long outSize,
    string error,
    string? directory)
{
    public JobKey Key { get; } = key;

    public JobOutcome Outcome { get; } = outcome;

    public int ExitCode { get; } = exitCode;

    public uint DurationMs { get; } = durationMs;

    public byte[] Stdout { get; } = stdout;

    public byte[] Stderr { get; } = stderr;

    public string? OutPath { get; } = outPath;

    public long OutSize { get; } = outSize;

    public string Error { get; } = error;

    public string? Directory { get; } = directory;

    public AgentConnection? SentOn { get; set; }

    /// <summary>A result without a run: the job failed before its handler started (or the agent erred around it).</summary>
    public static HeldResult Failed(JobKey key, JobOutcome outcome, string error, string? directory = null) =>
        new(key, outcome, -1, 0, [], [], null, 0, error, directory);
}
