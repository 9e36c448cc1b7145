namespace Drover.Protocol.Tests;

public sealed class CertificateFingerprintTests
{
    private static readonly byte[] Hash = CertificateFingerprint.Compute("certificate"u8);

    [Fact]
    public void The_format_is_OpenSSLs_upper_case_hex_pairs_joined_by_colons()
    {
        var text = CertificateFingerprint.Format(Hash);

        Assert.Equal(95, text.Length);
        Assert.Matches("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", text);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256:")]
    [InlineData("sha256 Fingerprint=")]
    [InlineData("SHA256=")]
    public void Every_written_form_reads_back(string prefix)
    {
        var text = CertificateFingerprint.Format(Hash);

        foreach (var form in (string[])[text, text.ToLowerInvariant(), text.Replace(":", string.Empty, StringComparison.Ordinal)])
        {
            Assert.True(CertificateFingerprint.TryParse(prefix + form, out var parsed, out var error), error);
            Assert.Equal(Hash, parsed);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("AB:CD")]
    [InlineData("ZZ00000000000000000000000000000000000000000000000000000000000000")]
    public void Anything_else_is_refused_with_a_reason(string? text)
    {
        Assert.False(CertificateFingerprint.TryParse(text, out _, out var error));
        Assert.StartsWith("a SHA-256 fingerprint is ", error, StringComparison.Ordinal);
    }
}
