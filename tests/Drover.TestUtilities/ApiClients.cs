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
        var handler = new SocketsHttpHandler();
        if (baseAddress.Scheme == Uri.UriSchemeHttps)
        {
            var trust = HubTrust.FromAuthorityFile(Path.Combine(dataDirectory, "tls", "ca.pem"));
            handler.SslOptions.RemoteCertificateValidationCallback = trust.ClientOptions(baseAddress.Host).RemoteCertificateValidationCallback;
        }

        var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>A client for plain http:// APIs (hubs started with --insecure) given absolute URLs, sending the suite's admin token.</summary>
    public static HttpClient Plain(TimeSpan timeout)
    {
        var http = new HttpClient { Timeout = timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", HubFixture.AdminToken);
        return http;
    }

    /// <summary>The CLI flags that trust that hub's https:// API (none for http://).</summary>
    public static string[] TrustArgs(string api, string dataDirectory) =>
        api.StartsWith("https://", StringComparison.Ordinal) ? ["--ca", Path.Combine(dataDirectory, "tls", "ca.pem")] : [];
}
