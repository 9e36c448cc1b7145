using System.Collections.Concurrent;
using System.Security.Cryptography;
using Drover.Api;
using Drover.Storage;

namespace Drover.Hub.Security;

/// <summary>Who called the API: the token's id, its name and scope.</summary>
internal sealed record ApiCaller(string TokenId, string Name, ApiScope Scope)
{
    /// <summary>How the audit log names the caller: <c>id (name)</c>.</summary>
    public string Actor => Name.Length == 0 ? TokenId : $"{TokenId} ({Name})";
}

/// <summary>How a hello's credential stands as a join token (<see cref="ApiTokens.TryTakeJoinUse"/>).</summary>
internal enum JoinTokenVerdict
{
    /// <summary>Not a join token at all (the shared token, say): another check decides.</summary>
    NotJoin,

    /// <summary>A live join token; one of its uses is taken.</summary>
    Taken,

    /// <summary>A join token that does not let this agent in: unknown secret, revoked, expired or used up.</summary>
    Refused,
}

/// <summary>The hub's tokens, API tokens and join tokens: every token of the <see cref="IAccessStore"/> held in memory (a
/// hub has a handful), so a request or a hello is checked without a store read; made, revoked and listed through the store
/// first, then here. A token's text is <see cref="ApiTokenText"/>: the id finds the record, and the SHA-256 of the secret is
/// compared in constant time. Revocation and expiry take effect at the next request or hello. A join token's uses are
/// counted here (one hub per data directory) and in the store with each enrollment's write.</summary>
internal sealed class ApiTokens(IAccessStore store, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TokenRecord> _tokens = new(StringComparer.Ordinal);
    private readonly Lock _usesLock = new();

    /// <summary>Loads every token from the store (at the hub's start).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var token in await store.ListTokensAsync(cancellationToken).ConfigureAwait(false))
        {
            _tokens[token.Id] = token;
        }
    }

    /// <summary>The caller a token's text stands for, or null (with why) when it is not a live API token.</summary>
    public ApiCaller? Authenticate(string? text, out string failure)
    {
        if (!ApiTokenText.TryParse(text, out var id, out var secret))
        {
            failure = text is null ? "no token" : "not a token";
            return null;
        }

        if (!_tokens.TryGetValue(id, out var token) || token.Kind != TokenKinds.Api
            || !CryptographicOperations.FixedTimeEquals(token.SecretHash, ApiTokenText.HashSecret(secret)))
        {
            failure = "unknown token";
            return null;
        }

        if (token.RevokedAt is not null)
        {
            failure = $"token {id} is revoked";
            return null;
        }

        if (token.ExpiresAt is { } expires && expires <= time.GetUtcNow())
        {
            failure = $"token {id} expired at {expires:O}";
            return null;
        }

        if (!ApiScopes.TryParse(token.Scope, out var scope))
        {
            failure = $"token {id} has no known scope";
            return null;
        }

        failure = string.Empty;
        return new ApiCaller(id, token.Name, scope);
    }

    /// <summary>Whether <paramref name="text"/> is a live join token and, if it is, takes one of its uses (given back with
    /// <see cref="ReturnJoinUse"/> when the enrollment does not happen). <paramref name="failure"/> says why a join token
    /// is refused.</summary>
    public JoinTokenVerdict TryTakeJoinUse(string text, out TokenRecord? token, out string failure)
    {
        token = null;
        failure = string.Empty;
        if (!ApiTokenText.TryParse(text, out var id, out var secret) || !_tokens.TryGetValue(id, out var found) || found.Kind != TokenKinds.Join)
        {
            return JoinTokenVerdict.NotJoin;
        }

        if (!CryptographicOperations.FixedTimeEquals(found.SecretHash, ApiTokenText.HashSecret(secret)))
        {
            failure = $"join token {id}: wrong secret";
            return JoinTokenVerdict.Refused;
        }

        lock (_usesLock)
        {
            found = _tokens[id];
            if (found.RevokedAt is not null)
            {
                failure = $"join token {id} is revoked";
                return JoinTokenVerdict.Refused;
            }

            if (found.ExpiresAt is { } expires && expires <= time.GetUtcNow())
            {
                failure = $"join token {id} expired at {expires:O}";
                return JoinTokenVerdict.Refused;
            }

            if (found.UsesLeft is <= 0)
            {
                failure = $"join token {id} is used up";
                return JoinTokenVerdict.Refused;
            }

            token = found.UsesLeft is { } left ? found with { UsesLeft = left - 1 } : found;
            _tokens[id] = token;
            return JoinTokenVerdict.Taken;
        }
    }

    /// <summary>Gives back a use <see cref="TryTakeJoinUse"/> took.</summary>
    public void ReturnJoinUse(string id)
    {
        lock (_usesLock)
        {
            if (_tokens.TryGetValue(id, out var token) && token.UsesLeft is { } left)
            {
                _tokens[id] = token with { UsesLeft = left + 1 };
            }
        }
    }

    /// <summary>Makes and stores a new join token; returns it with its text, which exists nowhere else.</summary>
    public async Task<(TokenRecord Token, string Text)> CreateJoinAsync(
        string name, TimeSpan lifetime, int? uses, IReadOnlyDictionary<string, string> labels, bool hold, string createdBy, CancellationToken cancellationToken)
    {
        var text = ApiTokenText.Generate();
        var token = await StoreAsync(
            text,
            (id, hash, now) => new TokenRecord(
                id, TokenKinds.Join, TokenKinds.Join, name, hash, now, createdBy, now + lifetime, null, uses, labels, hold ? JoinApprovals.Hold : JoinApprovals.Auto),
            cancellationToken).ConfigureAwait(false);
        return (token, text);
    }

    /// <summary>Every token, oldest first.</summary>
    public IReadOnlyList<TokenRecord> List() => [.. _tokens.Values.OrderBy(token => token.CreatedAt).ThenBy(token => token.Id, StringComparer.Ordinal)];

    public bool IsActive(TokenRecord token) =>
        token.RevokedAt is null && (token.ExpiresAt is not { } expires || expires > time.GetUtcNow()) && token.UsesLeft is null or > 0;

    /// <summary>Makes and stores a new token; returns it with its text, which exists nowhere else.</summary>
    public async Task<(TokenRecord Token, string Text)> CreateAsync(ApiScope scope, string name, TimeSpan? lifetime, string createdBy, CancellationToken cancellationToken)
    {
        var text = ApiTokenText.Generate();
        var token = await AddAsync(text, scope, name, lifetime, createdBy, cancellationToken).ConfigureAwait(false);
        return (token, text);
    }

    /// <summary>Stores a token whose text the caller has (a provisioned or bootstrap token).</summary>
    public Task<TokenRecord> AddAsync(string text, ApiScope scope, string name, TimeSpan? lifetime, string createdBy, CancellationToken cancellationToken) =>
        StoreAsync(text, (id, hash, now) => new TokenRecord(id, TokenKinds.Api, scope.Name(), name, hash, now, createdBy, now + lifetime, null), cancellationToken);

    /// <summary>Stores the record <paramref name="record"/> makes from the id and the secret's hash of <paramref name="text"/>
    /// and the time now, in the store first, then here.</summary>
    private async Task<TokenRecord> StoreAsync(string text, Func<string, byte[], DateTimeOffset, TokenRecord> record, CancellationToken cancellationToken)
    {
        if (!ApiTokenText.TryParse(text, out var id, out var secret))
        {
            throw new ArgumentException("not a token's text", nameof(text));
        }

        var token = record(id, ApiTokenText.HashSecret(secret), time.GetUtcNow());
        await store.AddTokenAsync(token, cancellationToken).ConfigureAwait(false);
        _tokens[id] = token;
        return token;
    }

    /// <summary>Revokes a token; false when there is none by that id or it was revoked already.</summary>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!await store.RevokeTokenAsync(id, now, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        lock (_usesLock)
        {
            if (_tokens.TryGetValue(id, out var token))
            {
                _tokens[id] = token with { RevokedAt = now };
            }
        }

        return true;
    }

    /// <summary>The stored token of this id, if any.</summary>
    public TokenRecord? Find(string id) => _tokens.GetValueOrDefault(id);
}
