using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Drover.Api;

/// <summary>The text of an API token: <c>drover_</c>, a 12-character id (lower-case hex: the public part, listed and named in
/// the audit log), <c>_</c>, and a 43-character secret (32 random bytes, base64url without padding). The hub stores the id
/// and the SHA-256 of the secret only. The fixed prefix lets secret scanners recognise a leaked token.</summary>
public static class ApiTokenText
{
    public const string Prefix = "drover_";
    public const int IdLength = 12;
    public const int SecretLength = 43;

    /// <summary>The whole token's length.</summary>
    public const int Length = 7 + IdLength + 1 + SecretLength;

    /// <summary>A new token from the system's cryptographic random generator.</summary>
    public static string Generate()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));
        var secret = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        return Prefix + id + "_" + secret;
    }

    /// <summary>Splits <paramref name="text"/> into its id and secret; false when it is not a token's text.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out string? id, [NotNullWhen(true)] out string? secret)
    {
        id = null;
        secret = null;
        if (text is null || text.Length != Length || !text.StartsWith(Prefix, StringComparison.Ordinal) || text[Prefix.Length + IdLength] != '_')
        {
            return false;
        }

        var idPart = text.AsSpan(Prefix.Length, IdLength);
        var secretPart = text.AsSpan(Prefix.Length + IdLength + 1);
        foreach (var c in idPart)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        foreach (var c in secretPart)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_'))
            {
                return false;
            }
        }

        id = idPart.ToString();
        secret = secretPart.ToString();
        return true;
    }

    /// <summary>SHA-256 of the secret's UTF-8 bytes: what the hub keeps.</summary>
    public static byte[] HashSecret(string secret) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret));
}
