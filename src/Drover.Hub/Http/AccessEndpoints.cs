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
        var tokens = app.MapGroup("/api/tokens").WithMetadata(RequiredScope.Admin).WithTags("access");
        tokens.MapGet(string.Empty, (HttpContext context) => ListTokens(api().Tokens, context))
            .Describe("ListTokens", "A page of tokens, oldest first, without their secrets (admin)", "access")
            .Paged()
            .Produces<TokenList>()
            .Problems(StatusCodes.Status400BadRequest);
        tokens.MapPost(string.Empty, (Delegate)(Func<HttpContext, Task<IResult>>)(context => CreateAsync(api(), context)))
            .Describe("CreateToken", "Make an API token or a join token; the answer is the only copy of its secret (admin)", "access")
            .Query("scope", "read, submit or admin (an API token), or join (a join token, which enrolls agents).", required: true)
            .Query("name", $"What the token is for (at most {MaxNameLength} characters).")
            .Query("ttl", "Lifetime, like 90d or 12h (a join token: default 24h; an API token: none).")
            .Query("uses", "A join token: how many agents it may enroll (default: no limit).", "integer")
            .Query("label", "A join token: NAME=VALUE given to the agents it enrolls; repeatable.", repeatable: true)
            .Query("approval", "A join token: auto (default) or hold (an operator approves each agent).")
            .Produces<TokenCreated>(StatusCodes.Status201Created)
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
        tokens.MapDelete("/{id}", (HttpContext context, string id) => RevokeAsync(api(), context, id))
            .Describe("RevokeToken", "Revoke a token (admin)", "access")
            .Produces<TokenView>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);

        // An agent id's key binding (docs/protocol.md, Agent keys): forgotten so that the id binds again at its next hello.
        app.MapDelete("/api/agents/{id}/key", async (HttpContext context, string id) =>
        {
            var hub = api();
            if (hub.AgentKeys is not { } keys || !await keys.ForgetAsync(id, context.RequestAborted).ConfigureAwait(false))
            {
                return ApiResults.NotFound($"agent '{id}' has no key binding");
            }

            await hub.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "agent.forget-key", id, string.Empty, CancellationToken.None).ConfigureAwait(false);
            return Results.NoContent();
        }).WithMetadata(RequiredScope.Admin)
            .Describe("ForgetAgentKey", "Forget an agent id's key binding, so that it binds again at its next hello (admin)", "access")
            .Produces(StatusCodes.Status204NoContent)
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);

        app.MapGet("/api/audit", (Delegate)(Func<HttpContext, Task<IResult>>)(context => ReadAuditAsync(api().Audit, context))).WithMetadata(RequiredScope.Admin)
            .Describe("ReadAudit", "A page of the audit log, oldest first (admin)", "access")
            .Query("since", "Only entries recorded at or after this time (ISO 8601).", "date-time")
            .Paged()
            .Produces<AuditPage>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);
    }

    /// <summary><c>GET /api/tokens?limit=N&amp;cursor=C</c>: tokens oldest first (the order the hub holds them in).</summary>
    private static IResult ListTokens(ApiTokens tokens, HttpContext context)
    {
        const string List = "tokens";
        if (!Paging.TryRead(context.Request.Query, List, out var paging, out var error))
        {
            return error!;
        }

        var all = tokens.List();
        var start = 0;
        if (paging.After is { } after)
        {
            if (!int.TryParse(after, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out start) || start > all.Count)
            {
                return ApiResults.BadRequest("the cursor is damaged; pass the 'next' of the previous page unchanged");
            }
        }

        var items = all.Skip(start).Take(paging.Limit).Select(token => ToView(tokens, token)).ToList();
        var end = start + items.Count;
        var next = end < all.Count ? Paging.Encode(List, end.ToString(System.Globalization.CultureInfo.InvariantCulture)) : null;
        return Results.Json(new TokenList(items, next), ApiJsonContext.Default.TokenList);
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
                ? ApiResults.NotFound($"no token '{id}'")
                : ApiResults.Conflict($"token '{id}' is already revoked");
        }

        await api.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), "token.revoke", id, string.Empty, context.RequestAborted).ConfigureAwait(false);
        return Results.Json(ToView(api.Tokens, api.Tokens.Find(id)!), ApiJsonContext.Default.TokenView);
    }

    /// <summary><c>GET /api/audit?since=TIME&amp;limit=N&amp;cursor=C</c>: entries oldest first.</summary>
    private static async Task<IResult> ReadAuditAsync(AuditLog audit, HttpContext context)
    {
        const string List = "audit";
        var query = context.Request.Query;
        if (!Paging.TryReadSince(query, out var since, out var error) || !Paging.TryRead(query, List, out var paging, out error))
        {
            return error!;
        }

        long after = 0;
        if (paging.After is { } text && !long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after))
        {
            return ApiResults.BadRequest("the cursor is damaged; pass the 'next' of the previous page unchanged");
        }

        var limit = paging.Limit;
        var entries = await audit.Store.ReadAuditAsync(after, since, limit + 1, context.RequestAborted).ConfigureAwait(false);
        var items = entries.Take(limit).Select(e => new AuditEntryView(e.Id, e.At, e.Actor, e.Source, e.Action, e.Target, e.Detail)).ToList();
        var next = entries.Count > limit ? Paging.Encode(List, items[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture)) : null;
        return Results.Json(new AuditPage(items, next), ApiJsonContext.Default.AuditPage);
    }

    internal static TokenView ToView(ApiTokens tokens, TokenRecord token) =>
        new(token.Id, token.Scope, token.Name, token.CreatedAt, token.CreatedBy, token.ExpiresAt, token.RevokedAt, tokens.IsActive(token),
            token.Kind, token.UsesLeft, token.Labels, token.Approval);
}
