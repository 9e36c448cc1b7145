using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Drover.Hub.Security;

/// <summary>Reads and writes the PEM files of the hub's TLS identity.</summary>
internal static class PemFiles
{
    /// <summary>The first certificate of <paramref name="certificatePath"/> with the private key of <paramref name="keyPath"/>.</summary>
    public static X509Certificate2 LoadWithKey(string certificatePath, string keyPath) =>
        X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

    /// <summary>The ECDSA private key in <paramref name="path"/> (PEM), or a new P-256 key written there (mode 0600).</summary>
    public static ECDsa LoadOrCreateKey(string path)
    {
        var key = ECDsa.Create();
        try
        {
            if (File.Exists(path))
            {
                key.ImportFromPem(File.ReadAllText(path));
            }
            else
            {
                key.GenerateKey(ECCurve.NamedCurves.nistP256);
                Write(path, key.ExportPkcs8PrivateKeyPem(), secret: true);
            }

            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="pem"/> to <paramref name="path"/> atomically (a temporary file renamed over it), so
    /// a crash never leaves half a key. A <paramref name="secret"/> is readable by its owner only (mode 0600) from
    /// the moment it is created.</summary>
    public static void Write(string path, string pem, bool secret)
    {
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }

        File.Delete(temporary); // UnixCreateMode applies only to a file that is created
        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(pem);
            writer.Write('\n');
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
