using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Drover.Protocol;

namespace Drover.Hub.Security;

/// <summary>The hub's TLS identity: the server certificate (with its private key) that both ports present, and what an
/// agent may trust it by: the CA that signed it (<c>drover agent --ca FILE</c>, checked with the certificate's names as
/// any TLS client does) or the fingerprint of the hub's key (<c>--hub-fingerprint</c>, the way a Salt minion pins its
/// master's key; TLS servers do not send their root certificate, so a pin on the CA could not be checked from the
/// handshake). Either made by the hub in its data directory (<see cref="LoadOrCreate"/>: a CA of its own and a key,
/// both made once, and a server certificate over that key, renewed when needed, so renewing never breaks a pin) or
/// given as files by the operator (<see cref="Load"/>).</summary>
public sealed class HubTlsIdentity : IDisposable
{
    /// <summary>The folder of the data directory that holds the hub's own CA and server certificate.</summary>
    public const string DirectoryName = "tls";

    /// <summary>A server certificate this close to its end is renewed at start.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(397);

    private HubTlsIdentity(X509Certificate2 serverCertificate, X509Certificate2 trustAnchor, X509Certificate2Collection chain, bool created)
    {
        ServerCertificate = serverCertificate;
        TrustAnchor = trustAnchor;
        Chain = chain;
        Created = created;
        Fingerprint = CertificateFingerprint.Format(CertificateFingerprint.OfPublicKey(serverCertificate));
    }

    /// <summary>The certificate both ports present, with its private key.</summary>
    public X509Certificate2 ServerCertificate { get; }

    /// <summary>The certificate agents trust with <c>--ca</c>: the hub's own CA, or the top of the operator's chain (the
    /// server certificate itself when the file holds only it).</summary>
    public X509Certificate2 TrustAnchor { get; }

    /// <summary>The certificates sent after the server certificate in the handshake (the intermediates and the anchor).</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>The SHA-256 fingerprint of the server certificate's public key (<see cref="CertificateFingerprint.OfPublicKey"/>),
    /// which agents pin with <c>--hub-fingerprint</c>.</summary>
    public string Fingerprint { get; }

    /// <summary>True when this start made the CA (the first start on this data directory).</summary>
    public bool Created { get; }

    /// <summary>Where the trust anchor is written in PEM, for <c>drover agent --ca</c> (null for the operator's own files).</summary>
    public string? TrustAnchorPath { get; private init; }

    /// <summary>Reads the hub's CA, key and server certificate from <c>&lt;dataDirectory&gt;/tls</c>, creating the CA and the
    /// key on the first start and (re)issuing the server certificate over the same key when it is missing, ends within
    /// <see cref="RenewBefore"/>, was signed by another CA or does not name every one of <paramref name="names"/> (host
    /// names or IP addresses).
    /// Private keys are written with mode 0600. Throws <see cref="IOException"/> with one line when the files cannot be
    /// read or written, or do not hold what they should.</summary>
    public static HubTlsIdentity LoadOrCreate(string dataDirectory, IEnumerable<string> names, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(time);
        var directory = Path.Combine(Path.GetFullPath(dataDirectory), DirectoryName);
        var caPath = Path.Combine(directory, "ca.pem");
        var caKeyPath = Path.Combine(directory, "ca.key");
        var serverPath = Path.Combine(directory, "hub.pem");
        var serverKeyPath = Path.Combine(directory, "hub.key");
        var now = time.GetUtcNow();
        var wanted = DefaultNames().Concat(names).Where(name => name.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();

        try
        {
            Directory.CreateDirectory(directory);
            var created = false;
            X509Certificate2 ca;
            if (File.Exists(caPath) && File.Exists(caKeyPath))
            {
                ca = PemFiles.LoadWithKey(caPath, caKeyPath);
            }
            else
            {
                ca = CertificateMaker.CreateAuthority($"Drover hub CA {Environment.MachineName}", now, CaLifetime);
                PemFiles.Write(caKeyPath, ca.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), secret: true);
                PemFiles.Write(caPath, ca.ExportCertificatePem(), secret: false);
                created = true;
            }

            X509Certificate2? server = null;
            if (File.Exists(serverPath) && File.Exists(serverKeyPath))
            {
                server = PemFiles.LoadWithKey(serverPath, serverKeyPath);
                if (!CertificateMaker.IsCurrent(server, ca, wanted, now, RenewBefore))
                {
                    server.Dispose();
                    server = null;
                }
            }

            if (server is null)
            {
                using var key = PemFiles.LoadOrCreateKey(serverKeyPath);
                server = CertificateMaker.CreateServer(ca, key, wanted, now, ServerLifetime);
                PemFiles.Write(serverPath, server.ExportCertificatePem(), secret: false);
            }

            var anchor = X509CertificateLoader.LoadCertificate(ca.RawData); // the public half only
            ca.Dispose();
            return new HubTlsIdentity(server, anchor, [anchor], created) { TrustAnchorPath = caPath };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new IOException($"cannot set up the hub's TLS certificate in '{directory}': {ex.Message}", ex);
        }
    }

    /// <summary>Uses the operator's certificate file (PEM: the server certificate first, then any intermediates and
    /// the root) and its private key file (PEM, PKCS#8, PKCS#1 or SEC1). Throws <see cref="IOException"/> with one line
    /// when they cannot be read or do not match.</summary>
    public static HubTlsIdentity Load(string certificatePath, string keyPath)
    {
        try
        {
            var server = PemFiles.LoadWithKey(certificatePath, keyPath);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certificatePath);
            var chain = new X509Certificate2Collection();
            foreach (var certificate in all.Skip(1))
            {
                chain.Add(certificate);
            }

            var anchor = chain.Count > 0 ? chain[^1] : X509CertificateLoader.LoadCertificate(server.RawData);
            return new HubTlsIdentity(server, anchor, chain, created: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new IOException($"cannot use the TLS certificate '{certificatePath}' with the key '{keyPath}': {ex.Message}", ex);
        }
    }

    /// <summary>The names every certificate the hub makes carries: this machine's name, localhost and the loopback addresses.</summary>
    public static IEnumerable<string> DefaultNames() =>
        [Environment.MachineName, "localhost", IPAddress.Loopback.ToString(), IPAddress.IPv6Loopback.ToString()];

    /// <summary>The server side of a TLS handshake with this identity, for the agent port: TLS 1.2 or 1.3, ALPN
    /// <c>drover/1</c>, no client certificate asked for. One instance serves every connection.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificateContext = SslStreamCertificateContext.Create(ServerCertificate, Chain, offline: true),
        ApplicationProtocols = [ProtocolConstants.TlsApplicationProtocol],
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateRequired = false,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
    };

    /// <summary>The same for the HTTP API's port (HTTP/1.1 over TLS): the same certificate, ALPN <c>http/1.1</c>.</summary>
    public SslServerAuthenticationOptions HttpsServerOptions()
    {
        var options = ServerOptions();
        options.ApplicationProtocols = [SslApplicationProtocol.Http11];
        return options;
    }

    public void Dispose()
    {
        ServerCertificate.Dispose();
        TrustAnchor.Dispose();
        foreach (var certificate in Chain)
        {
            certificate.Dispose();
        }
    }
}
