using System.Globalization;

namespace Drover.Hub.Os;

/// <summary>The operating-system limits that decide how many agents one hub process can hold, read
/// from a <c>/proc</c> tree (docs/operations.md). Every agent connection holds one file descriptor,
/// so the open-files limit is the hub's capacity, less <see cref="ReservedDescriptors"/>.</summary>
/// <remarks>The values are read once, in the constructor. A file that is missing or unreadable
/// leaves its value <c>null</c> and adds a line to <see cref="Notes"/>; nothing throws. Tests point
/// <c>procRoot</c> at a folder of fake files.</remarks>
public sealed partial class SystemLimits
{
    /// <summary>Descriptors kept for everything that is not an agent connection: the runtime (about 90 loaded
    /// assemblies hold two descriptors each: 204 descriptors for an idle hub, 236 once the API has answered), the
    /// store (the SQLite file and its WAL, per connection), log files, the HTTP listener and its connections, the
    /// agent listener, and the pipe each new thread takes while it starts. The hub caps its agent connections at
    /// the open-files limit less this (<c>--max-connections</c>), so an agent-port flood can never take the
    /// descriptors these need: a thread that cannot get one fails to start, which the .NET thread pool turns
    /// into an unhandled <see cref="OutOfMemoryException"/> that ends the process.</summary>
    public const int ReservedDescriptors = 512;

    /// <summary>The value that stands for "unlimited" (<c>RLIM_INFINITY</c>).</summary>
    public const ulong Unlimited = ulong.MaxValue;

    public SystemLimits(string procRoot = "/proc")
    {
        ProcRoot = procRoot;
        var notes = new List<string>();
        (OpenFilesSoft, OpenFilesHard) = ReadOpenFiles(notes);
        FileMax = ReadNumber("sys/fs/file-max", "fs.file-max", notes);
        NrOpen = ReadNumber("sys/fs/nr_open", "fs.nr_open", notes);
        SoMaxConn = ReadNumber("sys/net/core/somaxconn", "net.core.somaxconn", notes);
        TcpMaxSynBacklog = ReadNumber("sys/net/ipv4/tcp_max_syn_backlog", "net.ipv4.tcp_max_syn_backlog", notes);
        LocalPortRange = ReadPortRange(notes);
        Notes = notes;
    }

    /// <summary>The root the values were read from (normally <c>/proc</c>).</summary>
    public string ProcRoot { get; }

    /// <summary>This process's open-files soft limit (<c>ulimit -n</c>), from "Max open files" in <c>self/limits</c>.</summary>
    public ulong? OpenFilesSoft { get; }

    /// <summary>This process's open-files hard limit (<c>ulimit -Hn</c>): the most an unprivileged process can raise its soft limit to.</summary>
    public ulong? OpenFilesHard { get; }

    /// <summary><c>fs.file-max</c>: open files for the whole system.</summary>
    public ulong? FileMax { get; }

    /// <summary><c>fs.nr_open</c>: the ceiling for any process's hard open-files limit, even root's.</summary>
    public ulong? NrOpen { get; }

    /// <summary><c>net.core.somaxconn</c>: the cap on a listening socket's accept queue.</summary>
    public ulong? SoMaxConn { get; }

    /// <summary><c>net.ipv4.tcp_max_syn_backlog</c>: half-open connections waiting for their handshake to finish.</summary>
    public ulong? TcpMaxSynBacklog { get; }

    /// <summary><c>net.ipv4.ip_local_port_range</c>: the ephemeral ports outbound connections use.</summary>
    public PortRange? LocalPortRange { get; }

    /// <summary>One line per value that could not be read, saying which and why.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Agents this process can hold with its soft limit as it is now.</summary>
    public ulong? CurrentAgentCapacity => OpenFilesSoft is { } soft ? AgentCapacityFor(soft, FileMax) : null;

    /// <summary>Agents the hub can hold once it has raised its soft limit to the hard limit, as it does
    /// at start (<see cref="RaiseOpenFilesLimit"/>).</summary>
    public ulong? AgentCapacity => OpenFilesHard is { } hard ? AgentCapacityFor(hard, FileMax) : null;

    /// <summary>Outbound connections one source address can open to one hub address and port: the size
    /// of the ephemeral port range. This limits test and bench clients (a fleet simulated from one
    /// machine), not the hub, which accepts every connection on its one listening port.</summary>
    public ulong? MaxOutboundClientsPerSourceAddress => LocalPortRange is { } range ? (ulong)range.Count : null;

    /// <summary>The capacity rule: the open-files limit, capped by <c>fs.file-max</c>, less
    /// <see cref="ReservedDescriptors"/>; never negative.</summary>
    public static ulong AgentCapacityFor(ulong openFilesLimit, ulong? fileMax)
    {
        var limit = fileMax is { } max ? Math.Min(openFilesLimit, max) : openFilesLimit;
        return limit > ReservedDescriptors ? limit - ReservedDescriptors : 0;
    }

    /// <summary>The open-files limit a hub needs to hold <paramref name="agents"/> agents.</summary>
    public static ulong DescriptorsNeededFor(ulong agents) => agents > Unlimited - ReservedDescriptors ? Unlimited : agents + ReservedDescriptors;

    private (ulong? Soft, ulong? Hard) ReadOpenFiles(List<string> notes)
    {
        const string Path = "self/limits";
        var text = ReadFile(Path, "the open-files limit", notes);
        if (text is null)
        {
            return (null, null);
        }

        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                continue;
            }

            // "Max open files            1024                 524288               files"
            var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length >= 2 && TryParseLimit(parts[0], out var soft) && TryParseLimit(parts[1], out var hard))
            {
                return (soft, hard);
            }

            notes.Add($"{Full(Path)}: cannot parse \"{line.Trim()}\"; the open-files limit is unknown");
            return (null, null);
        }

        notes.Add($"{Full(Path)} has no \"Max open files\" line; the open-files limit is unknown");
        return (null, null);
    }

    private ulong? ReadNumber(string path, string name, List<string> notes)
    {
        var text = ReadFile(path, name, notes);
        if (text is null)
        {
            return null;
        }

        if (TryParseLimit(text.Trim(), out var value))
        {
            return value;
        }

        notes.Add($"{Full(path)}: cannot parse \"{text.Trim()}\"; {name} is unknown");
        return null;
    }

    private PortRange? ReadPortRange(List<string> notes)
    {
        const string Path = "sys/net/ipv4/ip_local_port_range";
        const string Name = "net.ipv4.ip_local_port_range";
        var text = ReadFile(Path, Name, notes);
        if (text is null)
        {
            return null;
        }

        var parts = text.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var low)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var high)
            && low <= high)
        {
            return new PortRange(low, high);
        }

        notes.Add($"{Full(Path)}: cannot parse \"{text.Trim()}\"; {Name} is unknown");
        return null;
    }

    private string? ReadFile(string path, string name, List<string> notes)
    {
        var full = Full(path);
        try
        {
            return File.ReadAllText(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex is FileNotFoundException or DirectoryNotFoundException ? "not found" : ex.Message;
            notes.Add($"{full}: {why}; {name} is unknown");
            return null;
        }
    }

    private string Full(string path) => Path.Combine(ProcRoot, path);

    private static bool TryParseLimit(string text, out ulong value)
    {
        if (text == "unlimited")
        {
            value = Unlimited;
            return true;
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}

/// <summary>An inclusive range of ports, as in <c>net.ipv4.ip_local_port_range</c>.</summary>
public readonly record struct PortRange(int Low, int High)
{
    /// <summary>How many ports the range holds.</summary>
    public int Count => High >= Low ? High - Low + 1 : 0;

    public override string ToString() => $"{Low}-{High}";
}
