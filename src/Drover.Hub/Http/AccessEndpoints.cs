using Drover.Api;
using Drover.Hub.Security;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary><c>/api/tokens</c> (make, list, revoke API and join tokens), <c>/api/agents/{id}/key</c> (forget an agent id's key
/// binding) and <c>/api/audit</c> (the audit log): admin scope only.</summary>
internal static class AccessEndpoints
{
    private const int MaxNameLength = 200;

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api)
    {
        var tokens = app.MapGroup("/api/tokens").WithMetadata(RequiredScope.Admin);
        tokens.MapGet(string.Empty, () => Results.Json(new TokenList([.. api().Tokens.List().Select(token => ToView(api().Tokens, token))]), ApiJsonContext.Default.TokenList));
        tokens.MapPost(string.Empty, (Delegate)(Func<HttpContext, Task<IResult>>)(context => CreateAsync(api(), context)));
        tokens.MapDelete("/{id}", (HttpContext context, string id) => RevokeAsync(api(), context, id));

        // An agent id's key binding (docs/protocol.md, Agent keys): forgotten so that the id binds again at its next hello.
        app.MapDelete("/api/agents/{id}/key", async (HttpContext context, string id) =>
        {
            var hub = api();
            if (hub.AgentKeys is not { } keys || !await keys.ForgetAsync(id, context.RequestAborted).ConfigureAwait(false))
            {
                return ApiResults.Error($"agent '{id}' has no key binding", StatusCodes.Status404NotFound);
            }

            await hub.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "agent.forget-key", id, string.Empty, CancellationToken.None).ConfigureAwait(false);
            return Results.NoContent();
        }).WithMetadata(RequiredScope.Admin);

        app.MapGet("/api/audit", (Delegate)(Func<HttpContext, Task<IResult>>)(context => ReadAuditAsync(api().Audit, context))).WithMetadata(RequiredScope.Admin);
    }

    /// <summary><c>POST /api/tokens?scope=read|submit|admin|join&amp;name=TEXT&amp;ttl=DURATION</c> (a join token also
    /// <c>&amp;uses=N&amp;label=NAME=VALUE…&amp;approval=auto|hold</c>): 201 with the token's text, which the hub keeps no
    /// copy of.</summary>
    private static async Task<IResult> CreateAsync(HubApiParts api, HttpContext context)
    {
        var query = context.Request.Query;
        var isJoin = query["scope"].ToString() == TokenKinds.Join;
        var scope = ApiScope.Read;
        if (!isJoin && !ApiScopes.TryParse(query["scope"], out scope))
        {
            return ApiResults.BadRequest($"scope must be one of {string.Join(", ", ApiScopes.Names)}, or join (a join token, which enrolls agents)");
        }

        var name = query["name"].ToString();
        if (name.Length > MaxNameLength || name.Any(char.IsControl))
        {
            return ApiResults.BadRequest($"name must be at most {MaxNameLength} characters, without control characters");
        }

        TimeSpan? lifetime = null;
        if (query["ttl"].ToString() is { Length: > 0 } ttl)
        {
            if (!DurationText.TryParse(ttl, out var parsed) || parsed <= TimeSpan.Zero)
            {
                return ApiResults.BadRequest($"ttl '{ttl}' is not a positive duration (like 90d, 12h)");
            }

            lifetime = parsed;
        }

        var caller = ApiGate.CallerOf(context)!;
        if (isJoin)
        {
            return await JoinTokenRequest.CreateAsync(api, context, caller, name, lifetime).ConfigureAwait(false);
        }

        var (token, text) = await api.Tokens.CreateAsync(scope, name, lifetime, caller.TokenId, context.RequestAborted).ConfigureAwait(false);
        await api.Audit.RecordAsync(caller, ApiGate.SourceOf(context), "token.create", token.Id, $"scope {token.Scope}, name '{name}'" + (lifetime is null ? string.Empty : $", expires {token.ExpiresAt:O}"), context.RequestAborted).ConfigureAwait(false);
        return Results.Json(new TokenCreated(ToView(api.Tokens, token), text), ApiJsonContext.Default.TokenCreated, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> RevokeAsync(HubApiParts api, HttpContext context, string id)
    {
        if (!await api.Tokens.RevokeAsync(id, context.RequestAborted).ConfigureAwait(false))
        {
            return api.Tokens.Find(id) is null
                ? ApiResults.Error($"no token '{id}'", StatusCodes.Status404NotFound)
                : ApiResults.Error($"token '{id}' is already revoked", StatusCodes.Status409Conflict);
        }

        await api.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "token.revoke", id, string.Empty, context.RequestAborted).ConfigureAwait(false);
        return Results.Json(ToView(api.Tokens, api.Tokens.Find(id)!), ApiJsonContext.Default.TokenView);
    }

    /// <summary><c>GET /api/audit?after=ID&amp;limit=N</c>: entries oldest first.</summary>
    private static async Task<IResult> ReadAuditAsync(AuditLog audit, HttpContext context)
    {
        var query = context.Request.Query;
        if (!ApiResults.TryParseQueryInt(query["limit"], ApiResults.DefaultPageSize, 1, ApiResults.MaxPageSize, out var limit))
        {
            return ApiResults.BadRequest($"limit must be between 1 and {ApiResults.MaxPageSize}");
        }

        long after = 0;
        if (query["after"].ToString() is { Length: > 0 } text && (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after)))
        {
            return ApiResults.BadRequest($"after '{text}' is not an entry id");
        }

        var entries = await audit.Store.ReadAuditAsync(after, limit + 1, context.RequestAborted).ConfigureAwait(false);
        var items = entries.Take(limit).Select(e => new AuditEntryView(e.Id, e.At, e.Actor, e.Source, e.Action, e.Target, e.Detail)).ToList();
        return Results.Json(new AuditPage(items, entries.Count > limit ? items[^1].Id : null), ApiJsonContext.Default.AuditPage);
    }

    internal static TokenView ToView(ApiTokens tokens, TokenRecord token) =>
        new(token.Id, token.Scope, token.Name, token.CreatedAt, token.CreatedBy, token.ExpiresAt, token.RevokedAt, tokens.IsActive(token),
            token.Kind, token.UsesLeft, token.Labels, token.Approval);
}
