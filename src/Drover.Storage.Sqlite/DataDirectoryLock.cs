using System.Globalization;

namespace Drover.Storage.Sqlite;

/// <summary>One hub per data directory: an exclusive lock on <c>&lt;data&gt;/drover.lock</c>, held for the life of the
/// process that owns the directory. On Linux .NET takes it with flock(2), which the kernel drops when the process
/// ends however it ends (kill -9 included), so a crash leaves nothing to clean by hand. Beside it, <c>drover.pid</c>
/// holds the owner's process id for the message a second hub gets (.NET flocks every file it opens, so the locked file
/// itself cannot be read by another process).</summary>
public sealed class DataDirectoryLock : IDisposable
{
    /// <summary>The lock file's name inside the data directory.</summary>
    public const string FileName = "drover.lock";

    /// <summary>The owner's process id, written after the lock is taken (informational only).</summary>
    public const string PidFileName = "drover.pid";

    private readonly FileStream _file;

    private DataDirectoryLock(string directory, FileStream file)
    {
        Directory = directory;
        _file = file;
    }

    /// <summary>The locked directory (full path).</summary>
    public string Directory { get; }

    /// <summary>Creates <paramref name="directory"/> if needed and locks it. Throws <see cref="StoreException"/>
    /// with one line when another process holds the lock or the directory cannot be made or written.</summary>
    public static DataDirectoryLock Acquire(string directory)
    {
        directory = Path.GetFullPath(directory);
        var path = Path.Combine(directory, FileName);
        try
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"Cannot create the data directory '{directory}': {ex.Message}", ex);
        }

        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex) when (File.Exists(path) && ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            var owner = ReadOwner(directory);
            throw new StoreException($"The data directory '{directory}' is in use by another hub{(owner is null ? string.Empty : $" (pid {owner})")}; one hub per data directory.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"Cannot write the lock file '{path}': {ex.Message}", ex);
        }

        try
        {
            File.WriteAllText(Path.Combine(directory, PidFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only the second hub's message names the pid; the lock itself holds.
        }

        return new DataDirectoryLock(directory, file);
    }

    /// <summary>Releases the lock (the file stays; the next hub reuses it).</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>The pid the owner wrote (null when unreadable).</summary>
    private static string? ReadOwner(string directory)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(directory, PidFileName)).Trim();
            return text.Length is > 0 and < 12 && text.All(char.IsAsciiDigit) ? text : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
