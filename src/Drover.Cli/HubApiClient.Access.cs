using Drover.Api;

namespace Drover.Cli;

/// <summary>The admin routes: tokens and the audit log.</summary>
internal sealed partial class HubApiClient
{
    /// <summary><c>POST /api/tokens</c>.</summary>
    public async Task<TokenCreated> CreateTokenAsync(string scope, string name, string? ttl, CancellationToken cancellationToken, JoinTokenTerms? join = null)
    {
        var query = $"api/tokens?scope={Uri.EscapeDataString(scope)}&name={Uri.EscapeDataString(name)}";
        if (ttl is not null)
        {
            query += "&ttl=" + Uri.EscapeDataString(ttl);
        }

        if (join is not null)
        {
            query += join.Uses is { } uses ? $"&uses={uses}" : string.Empty;
            query += join.Hold ? "&approval=hold" : string.Empty;
            query += string.Concat(join.Labels.Select(label => "&label=" + Uri.EscapeDataString(label)));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, query);
        return await SendJsonAsync(request, ApiJsonContext.Default.TokenCreated, RequestTimeout, cancellationToken);
    }

    /// <summary><c>GET /api/tokens</c>: every page.</summary>
    public async Task<TokenList> ListTokensAsync(CancellationToken cancellationToken)
    {
        var items = new List<TokenView>();
        string? cursor = null;
        do
        {
            var page = await GetJsonAsync("api/tokens?limit=1000" + CursorParameter(cursor), ApiJsonContext.Default.TokenList, cancellationToken);
            items.AddRange(page.Items);
            cursor = page.Next;
        }
        while (cursor is not null);

        return new TokenList(items);
    }

    private static string CursorParameter(string? cursor) => cursor is null ? string.Empty : "&cursor=" + Uri.EscapeDataString(cursor);

    /// <summary><c>DELETE /api/tokens/{id}</c>.</summary>
    public async Task<TokenView> RevokeTokenAsync(string id, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, "api/tokens/" + Uri.EscapeDataString(id));
        return await SendJsonAsync(request, ApiJsonContext.Default.TokenView, RequestTimeout, cancellationToken);
    }

    /// <summary><c>DELETE /api/agents/{id}/key</c>: the id binds again at its next hello with a key.</summary>
    public async Task ForgetAgentKeyAsync(string id, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Delete, "api/agents/" + Uri.EscapeDataString(id) + "/key");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token, cancellationToken);
        await ThrowIfErrorAsync(response, cancellationToken);
    }

    /// <summary><c>GET /api/agent-credentials?state=STATE</c>: every page.</summary>
    public async Task<AgentCredentialList> ListAgentCredentialsAsync(string? state, CancellationToken cancellationToken)
    {
        var items = new List<AgentCredentialView>();
        string? cursor = null;
        do
        {
            var path = "api/agent-credentials?limit=1000" + (state is null ? string.Empty : "&state=" + Uri.EscapeDataString(state)) + CursorParameter(cursor);
            var page = await GetJsonAsync(path, ApiJsonContext.Default.AgentCredentialList, cancellationToken);
            items.AddRange(page.Items);
            cursor = page.Next;
        }
        while (cursor is not null);

        return new AgentCredentialList(items);
    }

    /// <summary><c>POST /api/agents/{id}/approve|reject|revoke</c>.</summary>
    public async Task<AgentCredentialView> DecideAgentAsync(string id, string decision, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/agents/" + Uri.EscapeDataString(id) + "/" + decision);
        return await SendJsonAsync(request, ApiJsonContext.Default.AgentCredentialView, RequestTimeout, cancellationToken);
    }

    /// <summary><c>GET /api/audit</c>: one page, oldest first, from <paramref name="cursor"/> (null: the start), of entries
    /// recorded at or after <paramref name="since"/> (null: all).</summary>
    public Task<AuditPage> ReadAuditAsync(string? cursor, DateTimeOffset? since, int limit, CancellationToken cancellationToken) =>
        GetJsonAsync(
            $"api/audit?limit={limit}" + CursorParameter(cursor) + (since is { } at ? "&since=" + Uri.EscapeDataString(at.ToString("O", System.Globalization.CultureInfo.InvariantCulture)) : string.Empty),
            ApiJsonContext.Default.AuditPage,
            cancellationToken);
}

/// <summary>What a join token allows: <see cref="Uses"/> enrollments (null: no limit), the <see cref="Labels"/>
/// (<c>NAME=VALUE</c>) its agents get, and whether each waits for an operator (<see cref="Hold"/>).</summary>
internal sealed record JoinTokenTerms(int? Uses, IReadOnlyList<string> Labels, bool Hold);
