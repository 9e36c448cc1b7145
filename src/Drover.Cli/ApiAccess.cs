using System.CommandLine;
using System.Net.Security;
using Drover.Agent;

namespace Drover.Cli;

/// <summary>How an operator command reaches the hub's HTTP API: where (<c>--api</c>, <c>DROVER_API</c>), with which token
/// (<c>--api-token</c>, <c>DROVER_API_TOKEN</c>, <c>--api-token-file</c>, <c>DROVER_API_TOKEN_FILE</c>), and, for an https://
/// API, what it trusts the hub's certificate by (<c>--ca FILE|system</c>, <c>DROVER_CA</c>, <c>--hub-fingerprint</c>,
/// <c>DROVER_HUB_FINGERPRINT</c>; default the system's roots). A flag wins over its variable.</summary>
internal sealed class ApiAccess
{
    public const string DefaultApi = "https://127.0.0.1:7401";

    private readonly Option<string?> _api = new("--api") { Description = $"The hub's HTTP API (default: $DROVER_API or {DefaultApi})" };
    private readonly Option<string?> _token = new("--api-token") { Description = "An API token (default: $DROVER_API_TOKEN; other users can see a flag in ps, so prefer the variable or --api-token-file)" };
    private readonly Option<string?> _tokenFile = new("--api-token-file") { Description = "A file holding the API token, like the hub's DATA/admin.token (default: $DROVER_API_TOKEN_FILE)" };
    private readonly Option<string?> _ca = new("--ca") { Description = "For an https API: trust the hub's certificate by this CA file (the hub's DATA/tls/ca.pem), or 'system' (default: $DROVER_CA, else the system's roots)" };
    private readonly Option<string?> _fingerprint = new("--hub-fingerprint") { Description = "For an https API: trust only the hub key with this SHA-256 fingerprint, as the hub logs it (default: $DROVER_HUB_FINGERPRINT)" };

    public void AddTo(Command command)
    {
        command.Options.Add(_api);
        command.Options.Add(_token);
        command.Options.Add(_tokenFile);
        command.Options.Add(_ca);
        command.Options.Add(_fingerprint);
    }

    /// <summary>The target from the flags and the environment: the URL, the token (null: none), the trust; or a usage error.</summary>
    public bool TryRead(ParseResult parse, out ApiTarget target, out string error)
    {
        target = null!;
        var text = parse.GetValue(_api) ?? Environment.GetEnvironmentVariable("DROVER_API") ?? DefaultApi;
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            error = $"--api: '{text}' is not an http:// or https:// URL";
            return false;
        }

        if (!TryReadToken(parse, out var token, out error) || !TryReadTrust(parse, out var trust, out error))
        {
            return false;
        }

        target = new ApiTarget(baseUri, token, trust);
        return true;
    }

    private bool TryReadToken(ParseResult parse, out string? token, out string error)
    {
        error = string.Empty;
        token = parse.GetValue(_token) ?? NonEmpty(Environment.GetEnvironmentVariable("DROVER_API_TOKEN"));
        var file = parse.GetValue(_tokenFile) ?? NonEmpty(Environment.GetEnvironmentVariable("DROVER_API_TOKEN_FILE"));
        if (token is not null || file is null)
        {
            return true;
        }

        try
        {
            token = File.ReadAllText(file).Trim();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"--api-token-file: cannot read '{file}': {ex.Message}";
            return false;
        }
    }

    private bool TryReadTrust(ParseResult parse, out HubTrust trust, out string error)
    {
        error = string.Empty;
        var ca = parse.GetValue(_ca) ?? NonEmpty(Environment.GetEnvironmentVariable("DROVER_CA"));
        var fingerprint = parse.GetValue(_fingerprint) ?? NonEmpty(Environment.GetEnvironmentVariable("DROVER_HUB_FINGERPRINT"));
        trust = HubTrust.SystemRoots;
        try
        {
            if (fingerprint is not null)
            {
                trust = HubTrust.FromKeyFingerprint(fingerprint);
            }
            else if (ca is not null && ca != "system")
            {
                trust = HubTrust.FromAuthorityFile(ca);
            }

            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            error = fingerprint is not null ? $"--hub-fingerprint: {ex.Message}" : $"--ca: {ex.Message}";
            return false;
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>Where the API is, the token to send (null: none), and what an https:// API's certificate is trusted by.</summary>
internal sealed record ApiTarget(Uri BaseAddress, string? Token, HubTrust Trust)
{
    /// <summary>The check of the hub's certificate for an https:// API, as the agent checks it (<see cref="HubTrust"/>).</summary>
    public RemoteCertificateValidationCallback? CertificateCheck(out Func<string?> lastFailure)
    {
        string? failure = null;
        lastFailure = () => failure;
        var options = Trust.ClientOptions(BaseAddress.Host);
        var check = options.RemoteCertificateValidationCallback;
        if (check is null)
        {
            return null;
        }

        return (sender, certificate, chain, errors) =>
        {
            var accepted = check(sender, certificate, chain, errors);
            failure = accepted ? null : $"the hub's certificate is not trusted by {Trust.Description} (give --ca with the hub's DATA/tls/ca.pem, or --hub-fingerprint)";
            return accepted;
        };
    }
}
