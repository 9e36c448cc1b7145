namespace Drover.Api;

/// <summary>A token as listed: never its secret (the hub keeps only a hash of it). <see cref="Kind"/> is <c>api</c> (an
/// operator's, with <see cref="Scope"/> read, submit or admin) or <c>join</c> (enrolls agents: <see cref="UsesLeft"/>, null
/// for no limit; <see cref="Labels"/> its agents get; <see cref="Approval"/> <c>auto</c> or <c>hold</c>).</summary>
public sealed record TokenView(
    string Id,
    string Scope,
    string Name,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    bool Active,
    string Kind = "api",
    int? UsesLeft = null,
    IReadOnlyDictionary<string, string>? Labels = null,
    string? Approval = null);

/// <summary>An agent id's credential: the binding of the id to its agent key (the hub keeps only a hash of the key).
/// <see cref="State"/> is <c>pending</c>, <c>approved</c>, <c>rejected</c> or <c>revoked</c>; <see cref="TokenId"/> the join
/// token it enrolled with (null: bound on first use); <see cref="Connected"/> whether a session of the id is open now.</summary>
public sealed record AgentCredentialView(
    string AgentId,
    string State,
    DateTimeOffset BoundAt,
    string BoundFrom,
    string? TokenId,
    IReadOnlyDictionary<string, string>? Labels,
    DateTimeOffset? ChangedAt,
    bool Connected);

/// <summary>A page of agent credentials by id (<c>GET /api/agent-credentials?state=...</c>); <see cref="Next"/> is the
/// cursor of the next page, null on the last.</summary>
public sealed record AgentCredentialList(IReadOnlyList<AgentCredentialView> Items, string? Next = null);

/// <summary>The answer to <c>POST /api/tokens</c>: the token's <see cref="Secret"/> is in this answer and nowhere else.</summary>
public sealed record TokenCreated(TokenView Token, string Secret);

/// <summary>A page of tokens, oldest first; <see cref="Next"/> is the cursor of the next page, null on the last.</summary>
public sealed record TokenList(IReadOnlyList<TokenView> Items, string? Next = null);

/// <summary>One entry of the audit log (see <c>docs/security.md</c>).</summary>
public sealed record AuditEntryView(long Id, DateTimeOffset At, string Actor, string Source, string Action, string Target, string Detail);

/// <summary>A page of the audit log, oldest first; <see cref="Next"/> is the cursor of the next page (null at the end).</summary>
public sealed record AuditPage(IReadOnlyList<AuditEntryView> Items, string? Next);

/// <summary>What the HTTP API's gate refused since the hub started, agent ids bound to agent keys now, and hellos refused
/// since the start because their key did not match (<c>/api/stats</c> → <c>access</c>).</summary>
public sealed record AccessView(long Unauthenticated, long Forbidden, long BadHost, long CrossOrigin, int AgentKeysBound = 0, long AgentKeyMismatches = 0);
