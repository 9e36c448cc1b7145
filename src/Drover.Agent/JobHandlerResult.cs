namespace Drover.Agent;

/// <summary>How a handler run ended: the exit code (0 = success) and the ends of its standard output and
/// error. Tails longer than <see cref="JobContext.OutputTailBytes"/> are cut to their last bytes by the agent.</summary>
/// <param name="ExitCode">The handler's exit code; a job succeeds when it completes with 0.</param>
public sealed record JobHandlerResult(int ExitCode)
{
    /// <summary>The end of the handler's standard output. Default: empty.</summary>
    public ReadOnlyMemory<byte> StdoutTail { get; init; }

    /// <summary>The end of the handler's standard error. Default: empty.</summary>
    public ReadOnlyMemory<byte> StderrTail { get; init; }

    /// <summary>A note sent in the result's error text (empty when null). Default: none.</summary>
    public string? Error { get; init; }

    /// <summary>Success: exit code 0, no output.</summary>
    public static JobHandlerResult Success { get; } = new(0);
}
