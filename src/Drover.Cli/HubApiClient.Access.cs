using Drover.Api;

namespace Drover.Cli;

/// <summary>The admin routes: tokens and the audit log.</summary>
internal sealed partial class HubApiClient
{
    /// <summary><c>POST /api/tokens</c>.</summary>
    public async Task<TokenCreated> CreateTokenAsync(string scope, string name, string? ttl, CancellationToken cancellationToken)
    {
        var query = $"api/tokens?scope={Uri.EscapeDataString(scope)}&name={Uri.EscapeDataString(name)}";
        if (ttl is not null)
        {
            query += "&ttl=" + Uri.EscapeDataString(ttl);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, query);
        return await SendJsonAsync(request, ApiJsonContext.Default.TokenCreated, RequestTimeout, cancellationToken);
    }

    /// <summary><c>GET /api/tokens</c>.</summary>
    public Task<TokenList> ListTokensAsync(CancellationToken cancellationToken) =>
        GetJsonAsync("api/tokens", ApiJsonContext.Default.TokenList, cancellationToken);

    /// <summary><c>DELETE /api/tokens/{id}</c>.</summary>
    public async Task<TokenView> RevokeTokenAsync(string id, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, "api/tokens/" + Uri.EscapeDataString(id));
        return await SendJsonAsync(request, ApiJsonContext.Default.TokenView, RequestTimeout, cancellationToken);
    }

    /// <summary><c>GET /api/audit</c>: one page, oldest first.</summary>
    public Task<AuditPage> ReadAuditAsync(long after, int limit, CancellationToken cancellationToken) =>
        GetJsonAsync($"api/audit?after={after}&limit={limit}", ApiJsonContext.Default.AuditPage, cancellationToken);
}
