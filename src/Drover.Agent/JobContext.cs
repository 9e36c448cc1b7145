namespace Drover.Agent;

/// <summary>What an <see cref="IJobHandler"/> gets for one job attempt. Every path is under the agent's work
/// directory and made by the agent: nothing from the network is used as a path.</summary>
public sealed record JobContext
{
    /// <summary>The job's id, as the hub sent it (free text for the handler; not a path).</summary>
    public required string JobId { get; init; }

    /// <summary>Which placement of the job this is: 1 = the first.</summary>
    public required uint Attempt { get; init; }

    /// <summary>The sender's file name. Metadata only (it may contain "../", "/", NUL...): never use it as a path.</summary>
    public required string FileName { get; init; }

    /// <summary>The input file the agent wrote: <c>&lt;JobDirectory&gt;/input</c>, plus the sender's extension when
    /// it is a plain one (<c>.txt</c>, <c>.py</c>: a dot and 1-16 letters or digits).</summary>
    public required string FilePath { get; init; }

    /// <summary>Where the handler may write its output file: <c>&lt;JobDirectory&gt;/out</c>. Sent back with the
    /// result if it exists when the handler returns (bounded by <see cref="AgentOptions.MaxOutFileBytes"/>).</summary>
    public required string OutPath { get; init; }

    /// <summary>The job's own directory, <c>&lt;work dir&gt;/&lt;job&gt;-&lt;attempt&gt;</c>; deleted once the
    /// hub acknowledged the result.</summary>
    public required string JobDirectory { get; init; }

    /// <summary>The job's arguments (free text from the sender; may be empty).</summary>
    public required string Args { get; init; }

    /// <summary>How long the handler may run; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> when the
    /// job has none. The token passed with this context fires when it is over, as measured by
    /// <see cref="AgentOptions.TimeProvider"/>.</summary>
    public required TimeSpan Timeout { get; init; }

    /// <summary>The id of the agent running the job.</summary>
    public required string AgentId { get; init; }

    /// <summary>How many bytes of stdout and of stderr the agent sends back (the last ones); a handler that
    /// captures output needs to keep no more than this.</summary>
    public required int OutputTailBytes { get; init; }
}
