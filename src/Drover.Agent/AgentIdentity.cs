using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Drover.Agent.Internal;
using Drover.Protocol;

namespace Drover.Agent;

/// <summary>An agent's default id, kept in its state directory: made once, as <c>&lt;machine name&gt;-&lt;8 random
/// characters&gt;</c>, and read back at every start, so an agent keeps its id across restarts and two agents on one
/// machine (each with its own state directory) never share one. <c>drover agent</c> uses it when no id is given.</summary>
public static class AgentIdentity
{
    /// <summary>The file in the state directory that holds the id (one line).</summary>
    public const string FileName = "agent-id";

    /// <summary>How many random characters follow the machine name: 40 bits of lower-case Crockford base32.</summary>
    public const int SuffixLength = 8;

    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    /// <summary>The default state directory: <c>$XDG_STATE_HOME/drover/agent</c>, else <c>~/.local/state/drover/agent</c>.</summary>
    public static string DefaultStateDirectory()
    {
        var stateHome = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        if (string.IsNullOrEmpty(stateHome) || !Path.IsPathRooted(stateHome))
        {
            stateHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        }

        return Path.Combine(stateHome, "drover", "agent");
    }

    /// <summary>The id kept in <paramref name="stateDirectory"/>, made and written there first if it holds none. The
    /// write is atomic: the id goes to a temporary file in the same directory, is flushed to disk, and is then linked
    /// to <see cref="FileName"/> without replacing one that another agent made meanwhile (that one wins, and is
    /// returned). Throws <see cref="IOException"/> (or <see cref="UnauthorizedAccessException"/>) when the directory
    /// cannot be made or the file cannot be read or written, and <see cref="InvalidDataException"/> when the file
    /// holds something that is not a valid agent id (it is never overwritten: an operator may have put it there).</summary>
    public static string LoadOrCreate(string stateDirectory, string? machineName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        return LoadOrCreateLine(stateDirectory, FileName, () => NewId(machineName ?? Environment.MachineName), TryRead, secret: false, "agent id");
    }

    /// <summary>The file in the state directory that holds the agent key (one line, mode 0600).</summary>
    public const string KeyFileName = "agent.key";

    /// <summary>The agent key kept in <paramref name="stateDirectory"/> (<see cref="AgentOptions.AgentKey"/>): 32 random
    /// bytes as base64url, made and written there first (mode 0600, atomically, never replacing one another agent made
    /// meanwhile) if it holds none. The hub binds the agent's id to it at the first hello; losing the file means the id
    /// is refused until an operator forgets the binding. Throws like <see cref="LoadOrCreate"/>.</summary>
    public static string LoadOrCreateKey(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        return LoadOrCreateLine(stateDirectory, KeyFileName, NewKey, TryReadKey, secret: true, "agent key");
    }

    /// <summary>The file in the state directory that holds the key an agent rotates to until the hub confirms it.</summary>
    public const string NextKeyFileName = "agent.key.next";

    /// <summary>The agent's keys kept in <paramref name="stateDirectory"/> (<see cref="AgentOptions.KeyStore"/>): the current
    /// one in <see cref="KeyFileName"/> (made there first, like <see cref="LoadOrCreateKey"/>), a rotation's next one in
    /// <see cref="NextKeyFileName"/> (mode 0600, written atomically and flushed before the hub is asked; renamed over the
    /// current one once the hub confirmed).</summary>
    public static IAgentKeyStore OpenKeyStore(string stateDirectory)
    {
        var current = LoadOrCreateKey(stateDirectory);
        return new StateDirectoryKeyStore(stateDirectory, current);
    }

    /// <summary>A new agent key (<see cref="AgentOptions.AgentKey"/>): 32 random bytes as base64url. For an agent that keeps
    /// its key itself; <see cref="LoadOrCreateKey"/> keeps one in a state directory.</summary>
    public static string NewKey() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    private delegate bool LineReader(string path, out string value);

    /// <summary>The one line kept in <paramref name="fileName"/> of <paramref name="stateDirectory"/>, made by
    /// <paramref name="make"/> and written there first if the file is missing. The write is atomic: the line goes to a
    /// temporary file in the same directory (readable by its owner only when <paramref name="secret"/>), is flushed to disk,
    /// and is then linked to the file without replacing one that another agent made meanwhile (that one wins, and is
    /// returned). <paramref name="read"/> reads and checks the file.</summary>
    private static string LoadOrCreateLine(string stateDirectory, string fileName, Func<string> make, LineReader read, bool secret, string what)
    {
        var path = Path.Combine(stateDirectory, fileName);
        if (read(path, out var existing))
        {
            return existing;
        }

        Directory.CreateDirectory(stateDirectory);
        var line = make();
        var temporary = Path.Combine(stateDirectory, $".{fileName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (secret && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(line + "\n"));
                stream.Flush(flushToDisk: true);
            }

            // When another agent with this state directory made one first, it is the one.
            ExclusiveFile.TryPublish(temporary, path);
        }
        finally
        {
            File.Delete(temporary);
        }

        return read(path, out var written) ? written : throw new IOException($"the {what} file '{path}' vanished after it was written");
    }

    private static bool TryReadKey(string path, out string key)
    {
        key = string.Empty;
        if (!File.Exists(path))
        {
            return false;
        }

        key = File.ReadAllText(path).Trim();
        return key.Length >= 16 && key.Length <= 256 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? true
            : throw new InvalidDataException($"the agent key file '{path}' does not hold an agent key (16 to 256 characters of A-Z a-z 0-9 - _); it is left as it is");
    }

    /// <summary>A new id for <paramref name="machineName"/>: the name with every character outside
    /// <c>[A-Za-z0-9._:@-]</c> turned into <c>-</c> (at most 119 of them; <c>agent</c> when none is left), a
    /// <c>-</c>, and <see cref="SuffixLength"/> random characters. Always a valid agent id.</summary>
    public static string NewId(string machineName)
    {
        const int maxName = ProtocolConstants.MaxAgentIdLength - SuffixLength - 1;
        var name = new StringBuilder(Math.Min(machineName?.Length ?? 0, maxName));
        foreach (var c in machineName ?? string.Empty)
        {
            if (name.Length == maxName)
            {
                break;
            }

            name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '@' or '-' ? c : '-');
        }

        if (name.Length == 0)
        {
            name.Append("agent");
        }

        Span<byte> random = stackalloc byte[SuffixLength];
        RandomNumberGenerator.Fill(random);
        name.Append('-');
        foreach (var b in random)
        {
            name.Append(Alphabet[b & 31]);
        }

        return name.ToString();
    }

    private static bool TryRead(string path, out string id)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            id = string.Empty;
            return false;
        }

        id = text.Trim();
        if (!AgentIds.IsValid(id, out var reason))
        {
            throw new InvalidDataException($"the agent id file '{path}' does not hold a valid agent id ({reason}); fix it, delete it to get a new id, or give --id");
        }

        return true;
    }

    private sealed class StateDirectoryKeyStore(string directory, string current) : IAgentKeyStore
    {
        private readonly string _nextPath = Path.Combine(directory, NextKeyFileName);

        public string Current { get; private set; } = current;

        public string? Pending => TryReadKey(_nextPath, out var next) ? next : null;

        public string PrepareNext() => LoadOrCreateLine(directory, NextKeyFileName, NewKey, TryReadKey, secret: true, "next agent key");

        public void CommitNext()
        {
            if (Pending is { } next)
            {
                File.Move(_nextPath, Path.Combine(directory, KeyFileName), overwrite: true);
                Current = next;
            }
        }

        public void DropNext() => File.Delete(_nextPath);
    }
}
