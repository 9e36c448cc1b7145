using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Drover.Hub.Security;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The hub's own CA and server certificate in its data directory: made once, kept, renewed when needed, and
/// good for a real TLS handshake over loopback.</summary>
public sealed class HubTlsIdentityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drover-tls-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void The_first_start_makes_a_CA_and_a_server_certificate_it_signs()
    {
        using var identity = HubTlsIdentity.LoadOrCreate(_directory, ["hub.example"], _time);

        Assert.True(identity.Created);
        var tls = Path.Combine(_directory, HubTlsIdentity.DirectoryName);
        Assert.Equal(Path.Combine(tls, "ca.pem"), identity.TrustAnchorPath);
        using var caOnDisk = X509CertificateLoader.LoadCertificateFromFile(identity.TrustAnchorPath!);
        Assert.Equal(CertificateFingerprint.Format(CertificateFingerprint.OfPublicKey(identity.ServerCertificate)), identity.Fingerprint);
        Assert.Equal(95, identity.Fingerprint.Length);
        Assert.True(identity.ServerCertificate.HasPrivateKey);
        Assert.Equal(caOnDisk.Subject, identity.ServerCertificate.Issuer);

        var names = CertificateMaker.NamesOf(identity.ServerCertificate);
        Assert.Contains("hub.example", names);
        Assert.Contains("localhost", names);
        Assert.Contains("127.0.0.1", names);
        Assert.Contains("::1", names);
        Assert.True(identity.ServerCertificate.NotAfter.ToUniversalTime() > _time.GetUtcNow().UtcDateTime.AddDays(390));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Private_keys_are_readable_by_their_owner_only()
    {
        using var identity = HubTlsIdentity.LoadOrCreate(_directory, [], _time);

        var tls = Path.Combine(_directory, HubTlsIdentity.DirectoryName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(tls, "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(tls, "hub.key")));
        Assert.False(File.Exists(Path.Combine(tls, "hub.key.tmp")));
    }

    [Fact]
    public void A_restart_keeps_the_CA_and_the_server_certificate()
    {
        string fingerprint, thumbprint;
        using (var first = HubTlsIdentity.LoadOrCreate(_directory, ["hub.example"], _time))
        {
            fingerprint = first.Fingerprint;
            thumbprint = first.ServerCertificate.Thumbprint;
        }

        _time.Advance(TimeSpan.FromDays(100));
        using var second = HubTlsIdentity.LoadOrCreate(_directory, ["hub.example"], _time);

        Assert.False(second.Created);
        Assert.Equal(fingerprint, second.Fingerprint);
        Assert.Equal(thumbprint, second.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void A_new_name_or_a_near_end_renews_the_server_certificate_over_the_same_key_under_the_same_CA()
    {
        string fingerprint, thumbprint;
        using (var first = HubTlsIdentity.LoadOrCreate(_directory, [], _time))
        {
            fingerprint = first.Fingerprint;
            thumbprint = first.ServerCertificate.Thumbprint;
        }

        using (var renamed = HubTlsIdentity.LoadOrCreate(_directory, ["10.1.2.3"], _time))
        {
            Assert.Equal(fingerprint, renamed.Fingerprint); // the same key: agents' pins hold
            Assert.Equal("CN=Drover hub CA " + Environment.MachineName, renamed.ServerCertificate.Issuer);
            Assert.NotEqual(thumbprint, renamed.ServerCertificate.Thumbprint);
            Assert.Contains("10.1.2.3", CertificateMaker.NamesOf(renamed.ServerCertificate));
            thumbprint = renamed.ServerCertificate.Thumbprint;
        }

        _time.Advance(TimeSpan.FromDays(397) - HubTlsIdentity.RenewBefore + TimeSpan.FromDays(1));
        using var renewed = HubTlsIdentity.LoadOrCreate(_directory, ["10.1.2.3"], _time);
        Assert.Equal(fingerprint, renewed.Fingerprint);
        Assert.NotEqual(thumbprint, renewed.ServerCertificate.Thumbprint);
        Assert.True(renewed.ServerCertificate.NotAfter.ToUniversalTime() > _time.GetUtcNow().UtcDateTime.AddDays(390));
    }

    [Fact]
    public void A_damaged_key_file_is_one_clear_error()
    {
        HubTlsIdentity.LoadOrCreate(_directory, [], _time).Dispose();
        File.WriteAllText(Path.Combine(_directory, HubTlsIdentity.DirectoryName, "ca.key"), "not a key");

        var error = Assert.Throws<IOException>(() => HubTlsIdentity.LoadOrCreate(_directory, [], _time));
        Assert.StartsWith("cannot set up the hub's TLS certificate in ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void The_operators_own_files_are_used_as_given()
    {
        using var made = HubTlsIdentity.LoadOrCreate(_directory, [], _time);
        var tls = Path.Combine(_directory, HubTlsIdentity.DirectoryName);
        var bundle = Path.Combine(_directory, "bundle.pem");
        File.WriteAllText(bundle, File.ReadAllText(Path.Combine(tls, "hub.pem")) + File.ReadAllText(Path.Combine(tls, "ca.pem")));

        using var given = HubTlsIdentity.Load(bundle, Path.Combine(tls, "hub.key"));

        Assert.Equal(made.ServerCertificate.Thumbprint, given.ServerCertificate.Thumbprint);
        Assert.Equal(made.Fingerprint, given.Fingerprint);
        Assert.Null(given.TrustAnchorPath);
        Assert.Throws<IOException>(() => HubTlsIdentity.Load(bundle, Path.Combine(tls, "ca.key")));
    }

    [Fact]
    public async Task A_client_that_trusts_the_CA_completes_a_handshake_and_one_that_trusts_another_does_not()
    {
        using var identity = HubTlsIdentity.LoadOrCreate(_directory, [], TimeProvider.System);
        using var other = HubTlsIdentity.LoadOrCreate(Directory.CreateTempSubdirectory("drover-tls-other-").FullName, [], TimeProvider.System);

        Assert.Equal(SslProtocols.Tls13, await HandshakeAsync(identity, identity.TrustAnchor));
        await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(identity, other.TrustAnchor));
    }

    private static Task<SslProtocols> HandshakeAsync(HubTlsIdentity server, X509Certificate2 trusted) =>
        TlsLoopback.HandshakeAsync(server, async (ssl, cancellationToken) =>
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ApplicationProtocols = [ProtocolConstants.TlsApplicationProtocol],
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { trusted },
                    RevocationMode = X509RevocationMode.NoCheck,
                },
            }, cancellationToken);
            return ssl.SslProtocol;
        });
}
