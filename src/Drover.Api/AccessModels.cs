namespace Drover.Api;

/// <summary>An API token as listed: never its secret (the hub keeps only a hash of it).</summary>
public sealed record TokenView(string Id, string Scope, string Name, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, bool Active);

/// <summary>The answer to <c>POST /api/tokens</c>: the token's <see cref="Secret"/> is in this answer and nowhere else.</summary>
public sealed record TokenCreated(TokenView Token, string Secret);

/// <summary>Every token, oldest first.</summary>
public sealed record TokenList(IReadOnlyList<TokenView> Items);

/// <summary>One entry of the audit log (see <c>docs/security.md</c>).</summary>
public sealed record AuditEntryView(long Id, DateTimeOffset At, string Actor, string Source, string Action, string Target, string Detail);

/// <summary>A page of the audit log, oldest first; <see cref="Next"/> is the <c>after</c> value of the next page (null at the end).</summary>
public sealed record AuditPage(IReadOnlyList<AuditEntryView> Items, long? Next);

/// <summary>What the HTTP API's gate refused since the hub started (<c>/api/stats</c> → <c>access</c>).</summary>
public sealed record AccessView(long Unauthenticated, long Forbidden, long BadHost, long CrossOrigin);
