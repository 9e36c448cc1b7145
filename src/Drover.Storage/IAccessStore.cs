namespace Drover.Storage;

/// <summary>Where the hub keeps who may do what: its tokens (only a hash of each secret) and the audit log of what
/// operators did. Small and rarely written: every write is one transaction and returns when it is committed.</summary>
public interface IAccessStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema. Safe to call on an existing store.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Stores a new token. An id that is already stored fails with <see cref="StoreException"/>.</summary>
    Task AddTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    /// <summary>Every token, revoked and expired ones included, oldest first.</summary>
    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);

    /// <summary>Marks the token revoked at <paramref name="at"/>. False when there is no such token or it was
    /// already revoked (nothing changed).</summary>
    Task<bool> RevokeTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Every agent id's bound key (its hash).</summary>
    Task<IReadOnlyList<AgentKeyRecord>> ListAgentKeysAsync(CancellationToken cancellationToken);

    /// <summary>Stores bindings, all in one transaction; a binding for an id that has one replaces it. A binding made with
    /// a join token (<see cref="AgentKeyRecord.TokenId"/>) uses one of that token's uses, in the same transaction.</summary>
    Task BindAgentKeysAsync(IReadOnlyList<AgentKeyRecord> keys, CancellationToken cancellationToken);

    /// <summary>Sets an id's binding to <paramref name="state"/> (one of <see cref="AgentKeyStates"/>) at
    /// <paramref name="at"/>; false when the id has no binding.</summary>
    Task<bool> SetAgentKeyStateAsync(string agentId, string state, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Replaces an id's key (its hash) with a new one, bound at <paramref name="boundAt"/> and working until
    /// <paramref name="expiresAt"/> (null: no end); the state and the rest are kept. False when the id has no binding.</summary>
    Task<bool> RotateAgentKeyAsync(string agentId, byte[] keyHash, DateTimeOffset boundAt, DateTimeOffset? expiresAt, CancellationToken cancellationToken);

    /// <summary>Removes an id's binding; false when it had none.</summary>
    Task<bool> ForgetAgentKeyAsync(string agentId, CancellationToken cancellationToken);

    /// <summary>Appends one entry to the audit log; its <see cref="AuditRecord.Id"/> is ignored and the stored one
    /// (ascending, never reused) returned.</summary>
    Task<long> AppendAuditAsync(AuditRecord entry, CancellationToken cancellationToken);

    /// <summary>Deletes the audit entries recorded before <paramref name="olderThan"/>; returns how many.</summary>
    Task<int> PruneAuditAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> audit entries with ids above <paramref name="afterId"/>, oldest first.</summary>
    Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterId, int limit, CancellationToken cancellationToken);

    /// <summary>As <see cref="ReadAuditAsync(long, int, CancellationToken)"/>, only entries recorded at or after
    /// <paramref name="since"/> when it is given.</summary>
    Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterId, DateTimeOffset? since, int limit, CancellationToken cancellationToken);
}

/// <summary>A token as stored: never its secret, only the SHA-256 of it.</summary>
/// <param name="Id">The public part of the token, unique: how it is listed, named in the audit log and revoked.</param>
/// <param name="Kind"><see cref="TokenKinds.Api"/> (an operator's token for the HTTP API) or <see cref="TokenKinds.Join"/>
/// (an agent's one-time proof that it may enroll).</param>
/// <param name="Scope">What it allows: for an API token <c>read</c>, <c>submit</c> or <c>admin</c>; for a join token
/// <c>join</c>.</param>
/// <param name="Name">The operator's note on what it is for.</param>
/// <param name="SecretHash">SHA-256 of the secret part (32 bytes).</param>
/// <param name="CreatedAt">When it was made.</param>
/// <param name="CreatedBy">Who made it: a token id, or <c>hub</c> for the hub's own bootstrap token.</param>
/// <param name="ExpiresAt">When it stops working; null: never.</param>
/// <param name="RevokedAt">When it was revoked; null: not revoked.</param>
/// <param name="UsesLeft">A join token: how many more agents it may enroll; null: no limit (and for API tokens).</param>
/// <param name="Labels">A join token: the labels every agent it enrolls gets (they override the agent's own of the same
/// names); null for API tokens.</param>
/// <param name="Approval">A join token: <see cref="JoinApprovals.Auto"/> or <see cref="JoinApprovals.Hold"/>; null for API
/// tokens.</param>
public sealed record TokenRecord(
    string Id,
    string Kind,
    string Scope,
    string Name,
    byte[] SecretHash,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    int? UsesLeft = null,
    IReadOnlyDictionary<string, string>? Labels = null,
    string? Approval = null);

/// <summary>The kinds of <see cref="TokenRecord"/>.</summary>
public static class TokenKinds
{
    /// <summary>An operator's token for the HTTP API.</summary>
    public const string Api = "api";

    /// <summary>A join token: an agent presents it once, with its agent key, to enroll.</summary>
    public const string Join = "join";
}

/// <summary>The approval policies of a join token.</summary>
public static class JoinApprovals
{
    /// <summary>Agents it enrolls are approved at once.</summary>
    public const string Auto = "auto";

    /// <summary>Agents it enrolls wait, pending, until an operator approves (or rejects) them.</summary>
    public const string Hold = "hold";
}

/// <summary>The states of an <see cref="AgentKeyRecord"/>.</summary>
public static class AgentKeyStates
{
    /// <summary>Enrolled with a join token that holds for an operator: not let in yet.</summary>
    public const string Pending = "pending";

    /// <summary>Let in with this key.</summary>
    public const string Approved = "approved";

    /// <summary>An operator refused the pending enrollment: never let in with this key.</summary>
    public const string Rejected = "rejected";

    /// <summary>An operator withdrew the agent's credential: disconnected, and never let in with this key.</summary>
    public const string Revoked = "revoked";
}

/// <summary>An agent id bound to its agent key (only the SHA-256 of the key): at its first hello that carried one (trust on
/// first use), or by enrolling with a join token.</summary>
/// <param name="AgentId">The id.</param>
/// <param name="KeyHash">SHA-256 of the key.</param>
/// <param name="BoundAt">When the current key was bound: enrolled, bound on first use, or rotated.</param>
/// <param name="BoundFrom">The remote address of the hello that made it.</param>
/// <param name="State">One of <see cref="AgentKeyStates"/>.</param>
/// <param name="TokenId">The join token it enrolled with; null: bound on first use.</param>
/// <param name="Labels">The join token's labels, given to the agent at every hello; null: none.</param>
/// <param name="ChangedAt">When an operator last changed <paramref name="State"/>; null: never.</param>
/// <param name="ExpiresAt">When the key stops working (the agent rotates it before); null: never.</param>
public sealed record AgentKeyRecord(
    string AgentId,
    byte[] KeyHash,
    DateTimeOffset BoundAt,
    string BoundFrom,
    string State = AgentKeyStates.Approved,
    string? TokenId = null,
    IReadOnlyDictionary<string, string>? Labels = null,
    DateTimeOffset? ChangedAt = null,
    DateTimeOffset? ExpiresAt = null);

/// <summary>One thing an operator did.</summary>
/// <param name="Id">Ascending, assigned by the store.</param>
/// <param name="At">When.</param>
/// <param name="Actor">Who: the id of the token used (and its name, as <c>id (name)</c>).</param>
/// <param name="Source">From where: the remote address of the request.</param>
/// <param name="Action">What, as <c>resource.verb</c>: <c>job.submit</c>, <c>job.cancel</c>, <c>token.create</c>, <c>token.revoke</c>.</param>
/// <param name="Target">On what: a job id, a token id, a target.</param>
/// <param name="Detail">What else matters (a job's file name and target, a token's scope), plain text.</param>
public sealed record AuditRecord(long Id, DateTimeOffset At, string Actor, string Source, string Action, string Target, string Detail);
