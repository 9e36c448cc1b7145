using System.Runtime.InteropServices;

namespace Drover.Agent.Internal;

/// <summary>Publishes a finished file under its final name only if no file has that name yet, atomically, so that two
/// processes that make the same file at once agree on one. <see cref="File.Move(string, string, bool)"/> without
/// overwrite is not enough on Unix: .NET checks that the target is missing and then renames, and a rename replaces a
/// target made in between. link(2) makes the name or fails with EEXIST in one step (the way Git and maildir publish
/// files); Windows' MoveFileEx without REPLACE_EXISTING is already atomic.</summary>
internal static partial class ExclusiveFile
{
    private const int EINTR = 4;
    private const int EPERM = 1;
    private const int EEXIST = 17; // the same number on Linux, macOS and the BSDs

    /// <summary>Gives <paramref name="finished"/> the name <paramref name="path"/> unless that name exists: true when it
    /// did, false when another file already had the name (which is left as it is). <paramref name="finished"/> is left in
    /// place either way; the caller deletes it. Throws <see cref="IOException"/> for any other failure.</summary>
    public static bool TryPublish(string finished, string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Unless(path, () => File.Move(finished, path, overwrite: false));
        }

        while (Link(finished, path) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case EINTR:
                    continue;
                case EEXIST:
                    return false;
                case EPERM:
                    // A file system without hard links (FAT, some FUSE mounts): a copy that creates the name with
                    // O_EXCL, so one maker still wins, though a reader may see it before it is whole.
                    return Unless(path, () => File.Copy(finished, path, overwrite: false));
                default:
                    throw new IOException($"could not create '{path}': {Marshal.GetPInvokeErrorMessage(errno)}");
            }
        }

        return true;
    }

    private static bool Unless(string path, Action publish)
    {
        try
        {
            publish();
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existingPath, string newPath);
}
