namespace Drover.Protocol;

/// <summary>What a job may run on.</summary>
public enum JobTargetKind
{
    /// <summary>Any agent with a free slot, chosen at random.</summary>
    Random,

    /// <summary>The agent with the fewest jobs in flight per slot.</summary>
    LeastLoaded,

    /// <summary>One agent, by id; the job waits while that agent is offline.</summary>
    Agent,

    /// <summary>Any agent whose label <see cref="JobTarget.LabelKey"/> equals <see cref="JobTarget.LabelValue"/>.</summary>
    Label,
}

/// <summary>A job's target, parsed once from its text form: <c>random</c>, <c>least-loaded</c>, <c>agent:ID</c> (a valid
/// agent id) or <c>label:key=value</c> (a non-blank key; the value may be empty and may hold '='). The API, the CLI, the
/// dispatcher and the store all use this one parser; <see cref="ToString"/> gives back the text that is stored and shown.</summary>
public readonly record struct JobTarget
{
    /// <summary>Longest target text accepted, in characters.</summary>
    public const int MaxLength = 1024;

    private const string AgentPrefix = "agent:";
    private const string LabelPrefix = "label:";
    private const string Expected = "use random, least-loaded, agent:ID or label:key=value";

    private readonly string? _text;

    private JobTarget(JobTargetKind kind, string text, string? arg1, string? arg2)
    {
        Kind = kind;
        _text = text;
        Argument = arg1;
        LabelValue = arg2;
    }

    /// <summary>Any agent, at random (also the default of a job that names no target).</summary>
    public static JobTarget Random { get; } = new(JobTargetKind.Random, "random", null, null);

    /// <summary>The least-loaded agent.</summary>
    public static JobTarget LeastLoaded { get; } = new(JobTargetKind.LeastLoaded, "least-loaded", null, null);

    public JobTargetKind Kind { get; }

    /// <summary>The agent id of an <see cref="JobTargetKind.Agent"/> target, else null.</summary>
    public string? AgentId => Kind == JobTargetKind.Agent ? Argument : null;

    /// <summary>The label key of a <see cref="JobTargetKind.Label"/> target, else null.</summary>
    public string? LabelKey => Kind == JobTargetKind.Label ? Argument : null;

    /// <summary>The label value of a <see cref="JobTargetKind.Label"/> target, else null.</summary>
    public string? LabelValue { get; }

    /// <summary>The agent id or the label key.</summary>
    private string? Argument { get; }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says why in one line that quotes the
    /// text (cut at 140 characters), e.g. <c>'somewhere' is not a target; use random, least-loaded, agent:ID or
    /// label:key=value</c>.</summary>
    public static bool TryParse(string? text, out JobTarget target, out string error)
    {
        target = Random;
        error = string.Empty;
        switch (text)
        {
            case "random":
                return true;
            case "least-loaded":
                target = LeastLoaded;
                return true;
        }

        if (text is { Length: <= MaxLength } && !text.AsSpan().ContainsAnyInRange('\0', '\u001f'))
        {
            if (text.StartsWith(AgentPrefix, StringComparison.Ordinal))
            {
                var id = text[AgentPrefix.Length..];
                if (AgentIds.IsValid(id, out var reason))
                {
                    target = new JobTarget(JobTargetKind.Agent, text, id, null);
                    return true;
                }

                error = $"'{text}' does not name a valid agent: {reason}";
                return false;
            }

            if (text.StartsWith(LabelPrefix, StringComparison.Ordinal))
            {
                var equals = text.IndexOf('=', LabelPrefix.Length);
                if (equals > LabelPrefix.Length && !string.IsNullOrWhiteSpace(text[LabelPrefix.Length..equals]))
                {
                    target = new JobTarget(JobTargetKind.Label, text, text[LabelPrefix.Length..equals], text[(equals + 1)..]);
                    return true;
                }
            }
        }

        var shown = text ?? string.Empty;
        error = $"'{(shown.Length > 140 ? shown[..140] + "…" : shown)}' is not a target; {Expected}";
        return false;
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> with the reason.</summary>
    public static JobTarget Parse(string? text) => TryParse(text, out var target, out var error) ? target : throw new FormatException(error);

    /// <summary>An agent target for <paramref name="agentId"/> (which must be a valid id).</summary>
    public static JobTarget ForAgent(string agentId) => Parse(AgentPrefix + agentId);

    /// <summary>The canonical text: <c>random</c>, <c>least-loaded</c>, <c>agent:ID</c> or <c>label:key=value</c>.</summary>
    public override string ToString() => _text ?? "random";
}
