using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Drover.Protocol;

namespace Drover.Agent;

/// <summary>How an agent knows that it reached its hub and not an impostor, before it sends its credential or reads a
/// job: TLS, with the hub's certificate checked against a CA (<see cref="FromAuthorityFile"/>, the hub's own
/// <c>tls/ca.pem</c> or the operator's CA; the certificate must name the host the agent dialled), against the
/// machine's trusted roots (<see cref="SystemRoots"/>, for a hub with a certificate from a public CA), or by the
/// fingerprint of the hub's key (<see cref="FromKeyFingerprint"/>: that key and no other, whatever its certificate
/// says, the way a Salt minion pins its master's key). <see cref="Insecure"/> is plain TCP: no TLS, nothing checked.</summary>
public sealed class HubTrust
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private readonly X509Certificate2Collection? _authorities;
    private readonly byte[]? _keyFingerprint;

    private HubTrust(string description, X509Certificate2Collection? authorities, byte[]? keyFingerprint, bool insecure)
    {
        Description = description;
        _authorities = authorities;
        _keyFingerprint = keyFingerprint;
        IsInsecure = insecure;
    }

    /// <summary>TLS, trusting the certificate authorities of this machine (/etc/ssl/certs on Debian).</summary>
    public static HubTrust SystemRoots { get; } = new("the system's trusted roots", null, null, insecure: false);

    /// <summary>Plain TCP: the hub is not authenticated and the traffic is not encrypted. Only for a hub on loopback or
    /// a test; the agent logs a warning at start.</summary>
    public static HubTrust Insecure { get; } = new("none (plain TCP)", null, null, insecure: true);

    /// <summary>True for <see cref="Insecure"/>.</summary>
    public bool IsInsecure { get; }

    /// <summary>What is trusted, in words, for logs and errors.</summary>
    public string Description { get; }

    /// <summary>TLS, trusting the CA certificates in the PEM file at <paramref name="path"/> (the hub writes its own to
    /// <c>&lt;data&gt;/tls/ca.pem</c>). Throws <see cref="IOException"/> with one line when the file cannot be read or holds
    /// no certificate.</summary>
    public static HubTrust FromAuthorityFile(string path)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new IOException($"cannot read the CA file '{path}': {ex.Message}", ex);
        }

        if (authorities.Count == 0)
        {
            throw new IOException($"the CA file '{path}' holds no certificate (PEM, \"-----BEGIN CERTIFICATE-----\")");
        }

        return FromAuthorities(authorities, $"the CA in {path}");
    }

    /// <summary>TLS, trusting <paramref name="authorities"/>.</summary>
    public static HubTrust FromAuthorities(X509Certificate2Collection authorities, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        if (authorities.Count == 0)
        {
            throw new ArgumentException("at least one CA certificate is needed", nameof(authorities));
        }

        return new HubTrust(description ?? $"the CA {authorities[0].Subject}", authorities, null, insecure: false);
    }

    /// <summary>TLS, trusting only a hub whose key has this SHA-256 fingerprint (as the hub prints it at start; colons
    /// and case optional). Throws <see cref="ArgumentException"/> when it is not a fingerprint.</summary>
    public static HubTrust FromKeyFingerprint(string fingerprint)
    {
        if (!CertificateFingerprint.TryParse(fingerprint, out var bytes, out var error))
        {
            throw new ArgumentException(error, nameof(fingerprint));
        }

        return new HubTrust($"the hub key {CertificateFingerprint.Format(bytes)}", null, bytes, insecure: false);
    }

    public override string ToString() => Description;

    /// <summary>The TLS client settings for a connection to <paramref name="targetHost"/> (the host the agent dialled:
    /// the name the hub's certificate must carry, except when the key is pinned), for a program that opens its own
    /// <see cref="SslStream"/> to a hub; the agent uses them itself.</summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost) => new()
    {
        TargetHost = targetHost,
        ApplicationProtocols = [ProtocolConstants.TlsApplicationProtocol],
        EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Accepts(certificate as X509Certificate2, chain, errors, out string _),
    };

    /// <summary>Whether the hub's <paramref name="certificate"/> (and the certificates it sent, in
    /// <paramref name="presented"/>'s extra store) is trusted; <paramref name="errors"/> are what the TLS layer found
    /// against the system's roots and the dialled name.</summary>
    internal bool Accepts(X509Certificate2? certificate, X509Chain? presented, SslPolicyErrors errors, out string reason)
    {
        if (certificate is null)
        {
            reason = "the hub sent no certificate";
            return false;
        }

        if (_keyFingerprint is not null)
        {
            var actual = CertificateFingerprint.OfPublicKey(certificate);
            reason = CryptographicOperations.FixedTimeEquals(actual, _keyFingerprint)
                ? string.Empty
                : $"the hub's key is {CertificateFingerprint.Format(actual)}, not the pinned {CertificateFingerprint.Format(_keyFingerprint)}";
            return reason.Length == 0;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            reason = $"the hub's certificate does not name the host dialled (it names {certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false)})";
            return false;
        }

        if (_authorities is null)
        {
            reason = errors == SslPolicyErrors.None ? string.Empty : $"the hub's certificate is not trusted by this machine ({errors})";
            return errors == SslPolicyErrors.None;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        if (chain.Build(certificate))
        {
            reason = string.Empty;
            return true;
        }

        reason = $"the hub's certificate is not signed by {Description} ({string.Join(", ", chain.ChainStatus.Select(status => status.Status))})";
        return false;
    }
}
