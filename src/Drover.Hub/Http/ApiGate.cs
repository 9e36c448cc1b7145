using System.Net;
using Drover.Api;
using Drover.Hub.Connections;
using Drover.Hub.Security;
using Drover.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Http;

/// <summary>The scope an endpoint needs (its metadata); null: none, the endpoint is open (<c>/healthz</c>). An endpoint
/// without it needs <see cref="ApiScope.Read"/> for GET and HEAD and <see cref="ApiScope.Submit"/> for anything else.</summary>
internal sealed record RequiredScope(ApiScope? Scope)
{
    public static readonly RequiredScope None = new((ApiScope?)null);
    public static readonly RequiredScope Admin = new(ApiScope.Admin);
}

/// <summary>What every request passes before its endpoint runs, in this order (docs/security.md):
/// <list type="number">
/// <item>its <c>Host</c> is an IP address, <c>localhost</c>, the machine's name or one of <see cref="HubOptions.ApiHostNames"/>,
/// else 400 (DNS rebinding: a page whose name now points at the hub still sends its own name);</item>
/// <item>a write (not GET or HEAD) from a browser comes from the API's own origin: its <c>Origin</c>, when present, is this
/// request's scheme and host, and its <c>Sec-Fetch-Site</c>, when present, is <c>same-origin</c> or <c>none</c>, else 403.
/// No CORS headers are ever sent, so no other origin can read an answer or send the token header either;</item>
/// <item>it carries <c>Authorization: Bearer TOKEN</c> with a live API token, else 401 (with <c>WWW-Authenticate</c>);</item>
/// <item>that token's scope covers the endpoint's <see cref="RequiredScope"/>, else 403.</item>
/// </list>
/// Each refusal is counted (<c>/api/stats</c> → <c>access</c>) and logged at most once per source address and reason a
/// minute. The caller is then available to the endpoint through <see cref="CallerOf"/>.</summary>
internal sealed class ApiGate(HubOptions options, ApiTokens tokens, ILogger logger)
{
    private readonly HashSet<string> _hostNames = new(["localhost", Environment.MachineName, .. options.ApiHostNames], StringComparer.OrdinalIgnoreCase);
    private readonly LogThrottle<(string Source, string Reason)> _logThrottle = new(options.TimeProvider, maxKeys: 1_000, overflowKey: ("(other sources)", "various"));
    private static readonly RequiredScope ReadByDefault = new(ApiScope.Read);
    private static readonly RequiredScope SubmitByDefault = new(ApiScope.Submit);
    private long _unauthenticated;
    private long _forbidden;
    private long _badHost;
    private long _crossOrigin;

    public AccessView View => new(Interlocked.Read(ref _unauthenticated), Interlocked.Read(ref _forbidden), Interlocked.Read(ref _badHost), Interlocked.Read(ref _crossOrigin));

    /// <summary>The caller of a request that passed the gate (null on open endpoints).</summary>
    public static ApiCaller? CallerOf(HttpContext context) => context.Features.Get<ApiCaller>();

    /// <summary>The remote address as the audit log and the log lines write it.</summary>
    public static string SourceOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>Null when the request may go on to its endpoint; otherwise the refusal, written.</summary>
    public Task? Check(HttpContext context, RequiredScope? endpointScope)
    {
        var request = context.Request;
        var host = request.Host.Host;
        if (host.Length > 0 && !IsKnownHost(host))
        {
            Interlocked.Increment(ref _badHost);
            return Refuse(context, StatusCodes.Status400BadRequest, ProblemCodes.UnknownHost, $"the host '{LogText.Escape(host, 128)}' is not a name of this hub (add it with --http-host)");
        }

        var write = !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method);
        if (write && IsCrossOrigin(request))
        {
            Interlocked.Increment(ref _crossOrigin);
            return Refuse(context, StatusCodes.Status403Forbidden, ProblemCodes.CrossOrigin, "cross-origin requests that change anything are refused");
        }

        var required = endpointScope ?? (write ? SubmitByDefault : ReadByDefault);
        if (required.Scope is not { } scope)
        {
            return null;
        }

        var caller = tokens.Authenticate(BearerToken(request), out var failure);
        if (caller is null)
        {
            Interlocked.Increment(ref _unauthenticated);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"drover\"";
            return Refuse(context, StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated, $"this API needs a token (Authorization: Bearer TOKEN): {failure}");
        }

        if (caller.Scope < scope)
        {
            Interlocked.Increment(ref _forbidden);
            return Refuse(context, StatusCodes.Status403Forbidden, ProblemCodes.InsufficientScope, $"token {caller.TokenId} has scope {caller.Scope.Name()}; this needs {scope.Name()}");
        }

        context.Features.Set(caller);
        return null;
    }

    private bool IsKnownHost(string host)
    {
        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return IPAddress.TryParse(bare, out _) || _hostNames.Contains(bare.TrimEnd('.'));
    }

    private static bool IsCrossOrigin(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none"))
        {
            return true;
        }

        var origin = request.Headers.Origin.ToString();
        return origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
    }

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : header.Length == 0 ? null : header;
    }

    private Task Refuse(HttpContext context, int status, string reason, string message)
    {
        var source = SourceOf(context);
        var detail = $"{context.Request.Method} {LogText.Escape(context.Request.Path.Value, 200)}: {message}";
        if (_logThrottle.Add((source, reason), detail))
        {
            Log.ApiRefusedFirst(logger, source, reason, detail);
        }

        foreach (var summary in _logThrottle.Drain())
        {
            Log.ApiRefused(logger, summary.Count, summary.Key.Source, summary.Key.Reason, summary.Over.TotalSeconds, summary.Detail);
        }

        return ApiResults.WriteProblemAsync(context, reason, status, message);
    }
}
