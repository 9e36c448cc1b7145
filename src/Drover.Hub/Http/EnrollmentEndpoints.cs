using System.Globalization;
using Drover.Api;
using Drover.Hub.Security;
using Drover.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Drover.Hub.Http;

/// <summary>Agent credentials (docs/security.md, "Agent credentials"): <c>GET /api/agent-credentials?state=STATE</c> lists
/// them, <c>POST /api/agents/{id}/approve|reject|revoke</c> decides on them. Admin scope only; every decision is audited. A
/// revoked (or rejected) agent's open session is closed at once, and its hellos are refused from then on.</summary>
internal static class EnrollmentEndpoints
{
    private static readonly string[] States = [AgentKeyStates.Pending, AgentKeyStates.Approved, AgentKeyStates.Rejected, AgentKeyStates.Revoked];

    public static void Map(IEndpointRouteBuilder app, Func<HubApiParts> api)
    {
        app.MapGet("/api/agent-credentials", (HttpContext context) => List(api(), context)).WithMetadata(RequiredScope.Admin)
            .Describe("ListAgentCredentials", "A page of agent credentials by agent id (admin)", "access")
            .Query("state", $"Only credentials in this state: {string.Join(", ", States)}.")
            .Paged()
            .Produces<AgentCredentialList>()
            .Problems(StatusCodes.Status400BadRequest);
        Decision(app.MapPost("/api/agents/{id}/approve", (HttpContext context, string id) =>
            DecideAsync(api(), context, id, AgentKeyStates.Approved, [AgentKeyStates.Pending])), "ApproveAgent", "Approve a pending agent credential (admin)");
        Decision(app.MapPost("/api/agents/{id}/reject", (HttpContext context, string id) =>
            DecideAsync(api(), context, id, AgentKeyStates.Rejected, [AgentKeyStates.Pending])), "RejectAgent", "Reject a pending agent credential; its session is closed (admin)");
        Decision(app.MapPost("/api/agents/{id}/revoke", (HttpContext context, string id) =>
            DecideAsync(api(), context, id, AgentKeyStates.Revoked, [AgentKeyStates.Approved, AgentKeyStates.Pending])), "RevokeAgent", "Revoke an agent credential; its session is closed (admin)");
    }

    private static void Decision(RouteHandlerBuilder builder, string name, string summary) =>
        builder.WithMetadata(RequiredScope.Admin)
            .Describe(name, summary, "access")
            .Produces<AgentCredentialView>()
            .Problems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status500InternalServerError, StatusCodes.Status507InsufficientStorage);

    private static IResult List(HubApiParts api, HttpContext context)
    {
        var state = context.Request.Query["state"].ToString();
        if (state.Length > 0 && !States.Contains(state, StringComparer.Ordinal))
        {
            return ApiResults.BadRequest($"state must be one of {string.Join(", ", States)}");
        }

        const string List = "credentials";
        if (!Paging.TryRead(context.Request.Query, List, out var paging, out var error))
        {
            return error!;
        }

        var matches = (api.AgentKeys?.List() ?? [])
            .Where(key => (state.Length == 0 || key.State == state) && (paging.After is null || string.CompareOrdinal(key.AgentId, paging.After) > 0))
            .OrderBy(key => key.AgentId, StringComparer.Ordinal)
            .Take(paging.Limit + 1)
            .ToList();
        var items = matches.Take(paging.Limit).Select(key => ToView(api, key)).ToList();
        var next = matches.Count > paging.Limit ? Paging.Encode(List, items[^1].AgentId) : null;
        return Results.Json(new AgentCredentialList(items, next), ApiJsonContext.Default.AgentCredentialList);
    }

    /// <summary>Moves <paramref name="id"/>'s credential to <paramref name="state"/> when it is in one of
    /// <paramref name="from"/>: 200 with the credential, 404 when there is none, 409 from another state.</summary>
    private static async Task<IResult> DecideAsync(HubApiParts api, HttpContext context, string id, string state, string[] from)
    {
        if (api.AgentKeys is not { } keys || keys.Find(id) is not { } current)
        {
            return ApiResults.NotFound($"agent '{id}' has no credential (it never enrolled, or its key was forgotten)");
        }

        if (!from.Contains(current.State, StringComparer.Ordinal))
        {
            return ApiResults.Conflict($"agent '{id}''s credential is {current.State}; only a {string.Join(" or ", from)} one can become {state}");
        }

        if (!await keys.SetStateAsync(id, state, context.RequestAborted).ConfigureAwait(false))
        {
            return ApiResults.NotFound($"agent '{id}' has no credential");
        }

        api.Events?.Add(id, AgentEventKinds.Credential, state, $"{current.State} → {state} by token {ApiGate.CallerOf(context)!.TokenId}");
        if (state != AgentKeyStates.Approved)
        {
            api.CloseSessionOf?.Invoke(id);
        }

        var action = state switch
        {
            AgentKeyStates.Approved => "agent.approve",
            AgentKeyStates.Rejected => "agent.reject",
            _ => "agent.revoke",
        };
        await api.Audit.RecordAsync(ApiGate.CallerOf(context)!, ApiGate.SourceOf(context), action, id, $"was {current.State}", CancellationToken.None).ConfigureAwait(false);
        return Results.Json(ToView(api, keys.Find(id)!), ApiJsonContext.Default.AgentCredentialView);
    }

    private static AgentCredentialView ToView(HubApiParts api, AgentKeyRecord key) =>
        new(key.AgentId, key.State, key.BoundAt, key.BoundFrom, key.TokenId, key.Labels, key.ChangedAt, api.Fleet.TryGetAgent(key.AgentId, out var entry) && entry.Session is not null);
}

/// <summary><c>POST /api/tokens?scope=join</c>: a join token, with <c>ttl</c> (default 24 h), <c>uses</c> (default no limit),
/// <c>label=NAME=VALUE</c> (repeated) and <c>approval=auto|hold</c> (default auto).</summary>
internal static class JoinTokenRequest
{
    private const int MaxLabels = 64;
    private const int MaxLabelLength = 256;

    public static async Task<IResult> CreateAsync(HubApiParts api, HttpContext context, ApiCaller caller, string name, TimeSpan? lifetime)
    {
        var query = context.Request.Query;
        int? uses = null;
        if (query["uses"].ToString() is { Length: > 0 } usesText)
        {
            if (!int.TryParse(usesText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
            {
                return ApiResults.BadRequest($"uses '{usesText}' is not a positive whole number");
            }

            uses = parsed;
        }

        var approval = query["approval"].ToString();
        if (approval.Length > 0 && approval != JoinApprovals.Auto && approval != JoinApprovals.Hold)
        {
            return ApiResults.BadRequest($"approval must be {JoinApprovals.Auto} (agents are let in at once) or {JoinApprovals.Hold} (an operator approves each)");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in query["label"])
        {
            var equals = label?.IndexOf('=', StringComparison.Ordinal) ?? -1;
            if (equals <= 0 || label!.Length > MaxLabelLength || label.Any(char.IsControl) || labels.Count == MaxLabels)
            {
                return ApiResults.BadRequest($"label '{label}' is not NAME=VALUE (at most {MaxLabels} labels of {MaxLabelLength} characters, no control characters)");
            }

            labels[label[..equals]] = label[(equals + 1)..];
        }

        var (token, text) = await api.Tokens.CreateJoinAsync(
            name, lifetime ?? HubOptions.DefaultJoinTokenLifetime, uses, labels, approval == JoinApprovals.Hold, caller.TokenId, context.RequestAborted).ConfigureAwait(false);
        var detail = $"join, name '{name}', expires {token.ExpiresAt:O}, uses {(uses?.ToString(CultureInfo.InvariantCulture) ?? "unlimited")}, approval {token.Approval}"
            + (labels.Count > 0 ? ", labels " + string.Join(",", labels.Select(l => $"{l.Key}={l.Value}")) : string.Empty);
        await api.Audit.RecordAsync(caller, ApiGate.SourceOf(context), "token.create", token.Id, detail, context.RequestAborted).ConfigureAwait(false);
        return Results.Json(new TokenCreated(AccessEndpoints.ToView(api.Tokens, token), text), ApiJsonContext.Default.TokenCreated, statusCode: StatusCodes.Status201Created);
    }
}
