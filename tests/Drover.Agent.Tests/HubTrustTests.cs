using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Drover.Hub.Security;
using Drover.TestUtilities;

namespace Drover.Agent.Tests;

/// <summary>What an agent trusts, checked in a real TLS handshake over loopback against a hub identity made by the hub's
/// own code: the right CA or the pinned key passes; another CA, another key, a wrong name or the system roots do not.</summary>
public sealed class HubTrustTests : IDisposable
{
    private readonly List<string> _directories = [];

    public void Dispose()
    {
        foreach (var directory in _directories)
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task The_hubs_CA_file_is_trusted_for_a_name_the_certificate_carries()
    {
        using var hub = MakeIdentity();

        var trust = HubTrust.FromAuthorityFile(hub.TrustAnchorPath!);

        Assert.Null(await HandshakeAsync(hub, trust, "localhost"));
        Assert.Null(await HandshakeAsync(hub, trust, "127.0.0.1"));
    }

    [Fact]
    public async Task A_name_the_certificate_does_not_carry_is_refused_under_the_CA()
    {
        using var hub = MakeIdentity();

        var refusal = await HandshakeAsync(hub, HubTrust.FromAuthorityFile(hub.TrustAnchorPath!), "hub.elsewhere.example");

        Assert.StartsWith("the hub's certificate does not name the host dialled", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_CA_is_refused()
    {
        using var hub = MakeIdentity();
        using var other = MakeIdentity();

        var refusal = await HandshakeAsync(hub, HubTrust.FromAuthorityFile(other.TrustAnchorPath!), "localhost");

        Assert.StartsWith("the hub's certificate is not signed by the CA in ", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_pinned_key_is_trusted_whatever_name_was_dialled_and_another_key_is_refused()
    {
        using var hub = MakeIdentity();
        using var other = MakeIdentity();

        Assert.Null(await HandshakeAsync(hub, HubTrust.FromKeyFingerprint(hub.Fingerprint), "hub.elsewhere.example"));
        Assert.Null(await HandshakeAsync(hub, HubTrust.FromKeyFingerprint(hub.Fingerprint.Replace(":", string.Empty, StringComparison.Ordinal).ToLowerInvariant()), "localhost"));

        var refusal = await HandshakeAsync(hub, HubTrust.FromKeyFingerprint(other.Fingerprint), "localhost");
        Assert.Equal($"the hub's key is {hub.Fingerprint}, not the pinned {other.Fingerprint}", refusal);
    }

    [Fact]
    public async Task The_system_roots_do_not_trust_a_hubs_own_CA()
    {
        using var hub = MakeIdentity();

        var refusal = await HandshakeAsync(hub, HubTrust.SystemRoots, "localhost");

        Assert.StartsWith("the hub's certificate is not trusted by this machine", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_trust_settings_are_one_clear_error()
    {
        Assert.StartsWith("a SHA-256 fingerprint is ", Assert.Throws<ArgumentException>(() => HubTrust.FromKeyFingerprint("AB:CD")).Message, StringComparison.Ordinal);
        Assert.StartsWith("cannot read the CA file ", Assert.Throws<IOException>(() => HubTrust.FromAuthorityFile("/nonexistent/ca.pem")).Message, StringComparison.Ordinal);
        var empty = Path.GetTempFileName();
        try
        {
            Assert.EndsWith("holds no certificate (PEM, \"-----BEGIN CERTIFICATE-----\")", Assert.Throws<IOException>(() => HubTrust.FromAuthorityFile(empty)).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(empty);
        }
    }

    private HubTlsIdentity MakeIdentity()
    {
        var directory = Directory.CreateTempSubdirectory("drover-trust-").FullName;
        _directories.Add(directory);
        return HubTlsIdentity.LoadOrCreate(directory, [], TimeProvider.System);
    }

    /// <summary>Null when the agent's side accepted the hub, else the reason it gave.</summary>
    private static Task<string?> HandshakeAsync(HubTlsIdentity hub, HubTrust trust, string dialled) =>
        TlsLoopback.HandshakeAsync(hub, async (ssl, cancellationToken) =>
        {
            var options = trust.ClientOptions(dialled);
            string? reason = null;
            options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                trust.Accepts(certificate as X509Certificate2, chain, errors, out reason) || reason is null;
            try
            {
                await ssl.AuthenticateAsClientAsync(options, cancellationToken);
                Assert.Equal(Drover.Protocol.ProtocolConstants.TlsApplicationProtocol, ssl.NegotiatedApplicationProtocol);
                return null;
            }
            catch (AuthenticationException)
            {
                return reason ?? "refused without a reason";
            }
        });
}
