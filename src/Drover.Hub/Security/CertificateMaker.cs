using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Drover.Hub.Security;

/// <summary>Makes the hub's certificates with the base library's <see cref="CertificateRequest"/>: ECDSA P-256 keys,
/// SHA-256 signatures, the extensions a TLS client checks (basic constraints, key usage, extended key usage, subject
/// alternative names).</summary>
internal static class CertificateMaker
{
    /// <summary>Clocks of hub and agent may differ a little: certificates are valid from a few minutes back.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    /// <summary>A self-signed CA that may sign end certificates only (path length 0).</summary>
    public static X509Certificate2 CreateAuthority(string commonName, DateTimeOffset now, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(commonName)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(now - Backdate, now + lifetime);
    }

    /// <summary>A server certificate for <paramref name="names"/> (DNS names and IP addresses) over <paramref name="key"/>,
    /// signed by <paramref name="authority"/>.</summary>
    public static X509Certificate2 CreateServer(X509Certificate2 authority, ECDsa key, IReadOnlyCollection<string> names, DateTimeOffset now, TimeSpan lifetime)
    {
        var subject = names.FirstOrDefault() ?? "drover-hub";
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(subject)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        var notAfter = now + lifetime;
        if (notAfter > authority.NotAfter)
        {
            notAfter = authority.NotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var signed = request.Create(authority, now - Backdate, notAfter, serial);
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>True when <paramref name="server"/> was signed by <paramref name="authority"/>, is valid now and for at
    /// least <paramref name="renewBefore"/> more, and names every one of <paramref name="names"/>.</summary>
    public static bool IsCurrent(X509Certificate2 server, X509Certificate2 authority, IEnumerable<string> names, DateTimeOffset now, TimeSpan renewBefore)
    {
        if (server.NotBefore.ToUniversalTime() > now.UtcDateTime || server.NotAfter.ToUniversalTime() - renewBefore < now.UtcDateTime)
        {
            return false;
        }

        if (!string.Equals(server.Issuer, authority.Subject, StringComparison.Ordinal) || !SignedBy(server, authority))
        {
            return false;
        }

        var present = NamesOf(server);
        return names.All(present.Contains);
    }

    /// <summary>The DNS names and IP addresses in a certificate's subject alternative names.</summary>
    public static HashSet<string> NamesOf(X509Certificate2 certificate)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var extension in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            names.UnionWith(extension.EnumerateDnsNames());
            names.UnionWith(extension.EnumerateIPAddresses().Select(address => address.ToString()));
        }

        return names;
    }

    private static bool SignedBy(X509Certificate2 certificate, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(certificate);
    }

    /// <summary>A value for a distinguished name: commas, plus signs and quotes would start another attribute.</summary>
    private static string Escape(string value) => value.Replace("\"", string.Empty, StringComparison.Ordinal).Replace(",", " ", StringComparison.Ordinal).Replace("+", " ", StringComparison.Ordinal);
}
