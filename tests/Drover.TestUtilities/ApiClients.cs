using System.Net.Http.Headers;
using Drover.Agent;

namespace Drover.TestUtilities;

/// <summary>HTTP clients for the API of a hub a test started as a child process (<c>drover serve</c>): they send the suite's
/// admin token (<see cref="HubFixture.AdminToken"/>, which <see cref="DroverProcess"/> gives every hub) and, for an https://
/// API, trust the hub's own CA in its data directory as an operator's <c>--ca DATA/tls/ca.pem</c> does.</summary>
public static class ApiClients
{
    public static HttpClient ForHub(string api, string dataDirectory, string? token = HubFixture.AdminToken, TimeSpan? timeout = null)
    {
        var baseAddress = new Uri(api.EndsWith('/') ? api : api + "/");
        var trust = baseAddress.Scheme == Uri.UriSchemeHttps ? HubTrust.FromAuthorityFile(Path.Combine(dataDirectory, "tls", "ca.pem")) : null;
        return Create(baseAddress, trust, token, timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>A client for plain http:// APIs (hubs started with --insecure) given absolute URLs, sending the suite's admin token.</summary>
    public static HttpClient Plain(TimeSpan timeout) => Create(null, null, HubFixture.AdminToken, timeout);

    /// <summary>A client of <paramref name="baseAddress"/> (none: absolute URLs) that checks an https:// API's certificate
    /// with <paramref name="trust"/> (as an agent checks the agent port's) and sends <paramref name="token"/> (none: no
    /// Authorization header).</summary>
    public static HttpClient Create(Uri? baseAddress, HubTrust? trust, string? token, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler();
        if (trust is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = trust.ClientOptions(baseAddress?.Host ?? "localhost").RemoteCertificateValidationCallback;
        }

        var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>The CLI flags that trust that hub's https:// API (none for http://).</summary>
    public static string[] TrustArgs(string api, string dataDirectory) =>
        api.StartsWith("https://", StringComparison.Ordinal) ? ["--ca", Path.Combine(dataDirectory, "tls", "ca.pem")] : [];
}
