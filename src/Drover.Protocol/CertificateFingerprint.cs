using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Drover.Protocol;

/// <summary>SHA-256 fingerprints as OpenSSL writes them (<c>openssl x509 -noout -fingerprint -sha256</c>): 32 upper-case
/// hex pairs joined by colons. The hub prints the fingerprint of its key (<see cref="OfPublicKey"/>) at start; an agent
/// pins the hub by it (<c>--hub-fingerprint</c>), as a Salt minion pins its master's key.</summary>
public static class CertificateFingerprint
{
    /// <summary>Bytes in a SHA-256 fingerprint.</summary>
    public const int Length = 32;

    /// <summary>The SHA-256 of <paramref name="der"/> (a certificate's raw DER bytes, for example).</summary>
    public static byte[] Compute(ReadOnlySpan<byte> der) => SHA256.HashData(der);

    /// <summary>The SHA-256 of <paramref name="certificate"/>'s public key as a DER SubjectPublicKeyInfo: the same for
    /// every certificate issued over the same key. OpenSSL computes it with
    /// <c>openssl x509 -in hub.pem -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -c</c>.</summary>
    public static byte[] OfPublicKey(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }

    /// <summary>The OpenSSL form: <c>AB:CD:...</c> (95 characters).</summary>
    public static string Format(ReadOnlySpan<byte> fingerprint)
    {
        var text = new StringBuilder(fingerprint.Length * 3);
        foreach (var b in fingerprint)
        {
            if (text.Length > 0)
            {
                text.Append(':');
            }

            text.Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    /// <summary>Reads a fingerprint in either case, with or without colons, and with an optional <c>sha256:</c> or
    /// <c>SHA256 Fingerprint=</c> prefix (as openssl prints it). False with a reason when it is not 32 bytes of hex.</summary>
    public static bool TryParse(string? text, out byte[] fingerprint, out string error)
    {
        fingerprint = [];
        var value = (text ?? string.Empty).Trim();
        foreach (var prefix in (string[])["sha256 Fingerprint=", "sha256:", "sha256="])
        {
            if (value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                value = value[prefix.Length..];
                break;
            }
        }

        var hex = value.Replace(":", string.Empty, StringComparison.Ordinal);
        if (hex.Length != Length * 2)
        {
            error = $"a SHA-256 fingerprint is {Length} bytes ({Length * 2} hex digits, colons optional), got {hex.Length} digits";
            return false;
        }

        try
        {
            fingerprint = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            error = "a SHA-256 fingerprint is hex digits (0-9, A-F), colons optional";
            return false;
        }

        error = string.Empty;
        return true;
    }
}
