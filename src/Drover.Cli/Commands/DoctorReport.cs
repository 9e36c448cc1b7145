using System.Globalization;
using System.Text.Json.Serialization;
using Drover.Hub.Os;

namespace Drover.Cli.Commands;

/// <summary>How one limit compares with what N agents need.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LimitStatus>))]
internal enum LimitStatus
{
    /// <summary>High enough for N agents.</summary>
    Ok,
    /// <summary>Too low for N agents: the hub cannot hold them until it is raised (exit code 1).</summary>
    TooLow,
    /// <summary>Below the recommended value; connections still work but a reconnect storm may be dropped.</summary>
    Low,
    /// <summary>Could not be read.</summary>
    Unknown,
    /// <summary>Shown for information; no requirement.</summary>
    Info,
}

/// <summary>One row of the doctor's table.</summary>
internal sealed record LimitCheck(string Name, ulong? Current, string CurrentText, ulong? Needed, LimitStatus Status, string? Note);

/// <summary>What <c>drover doctor</c> found: every limit against what N agents need, the capacity, and
/// the exact commands that raise the limits that are too low.</summary>
internal sealed record DoctorReport(
    int Agents,
    ulong DescriptorsNeeded,
    ulong? AgentCapacity,
    ulong? CurrentAgentCapacity,
    bool Fits,
    IReadOnlyList<LimitCheck> Checks,
    IReadOnlyList<string> Fixes,
    IReadOnlyList<string> Notes)
{
    /// <summary>From this many agents on, a reconnect storm can overflow a small accept queue.</summary>
    public const int BacklogFleetSize = 1_000;

    /// <summary>The accept-queue and SYN-backlog sizes recommended for fleets of <see cref="BacklogFleetSize"/> and more.</summary>
    public const ulong RecommendedBacklog = 4_096;

    /// <summary>Kernel default of both backlogs on older kernels; enough for small fleets.</summary>
    public const ulong SmallFleetBacklog = 128;

    public const string SysctlFile = "/etc/sysctl.d/99-drover.conf";

    public static DoctorReport Build(SystemLimits limits, int agents)
    {
        var needed = SystemLimits.DescriptorsNeededFor((ulong)agents);
        var target = RoundUp(needed, 1024); // the value the fixes set: what is needed, rounded up
        var backlog = agents >= BacklogFleetSize ? RecommendedBacklog : SmallFleetBacklog;
        var checks = new List<LimitCheck>();
        var notes = new List<string>(limits.Notes);

        var soft = limits.OpenFilesSoft;
        var hard = limits.OpenFilesHard;
        var hardOk = hard >= needed;
        checks.Add(new LimitCheck(
            "nofile soft (ulimit -n)",
            soft,
            Text(soft),
            needed,
            soft is null ? LimitStatus.Unknown : soft >= needed || hardOk ? LimitStatus.Ok : LimitStatus.TooLow,
            soft < needed && hardOk ? "hub raises it to hard" : null));
        checks.Add(new LimitCheck("nofile hard (ulimit -Hn)", hard, Text(hard), needed, Required(hard, needed), null));
        var nrOpenStatus = Required(limits.NrOpen, needed);
        checks.Add(new LimitCheck("fs.nr_open", limits.NrOpen, Text(limits.NrOpen), needed, nrOpenStatus, "caps the hard limit"));
        checks.Add(new LimitCheck("fs.file-max", limits.FileMax, Text(limits.FileMax), needed, Required(limits.FileMax, needed), "whole system"));
        checks.Add(new LimitCheck("net.core.somaxconn", limits.SoMaxConn, Text(limits.SoMaxConn), backlog, Advised(limits.SoMaxConn, backlog), "accept queue"));
        checks.Add(new LimitCheck("net.ipv4.tcp_max_syn_backlog", limits.TcpMaxSynBacklog, Text(limits.TcpMaxSynBacklog), backlog, Advised(limits.TcpMaxSynBacklog, backlog), "half-open connections"));
        var ports = limits.MaxOutboundClientsPerSourceAddress;
        checks.Add(new LimitCheck(
            "net.ipv4.ip_local_port_range",
            ports,
            limits.LocalPortRange is { } range ? range.ToString() : "?",
            null,
            ports is null ? LimitStatus.Unknown : LimitStatus.Info,
            "bench clients only"));

        var capacity = limits.AgentCapacity;
        var fits = capacity >= (ulong)agents;

        var fixes = new List<string>();
        if (hard is not null && !hardOk)
        {
            var nrOpen = limits.NrOpen is { } value ? $" ({N(value)})" : string.Empty;
            fixes.Add($"Open files: the hard limit ({N(hard.Value)}) is below the {N(needed)} that {N(agents)} agents need.");
            fixes.Add($"Only root can raise a hard limit, and never above fs.nr_open{nrOpen}. Set both limits to {target}:");
            fixes.Add("  /etc/security/limits.conf (login sessions, through pam_limits; log in again afterwards):");
            fixes.Add($"    * soft nofile {target}");
            fixes.Add($"    * hard nofile {target}");
            fixes.Add("  systemd: in the unit's [Service] section (services ignore limits.conf), then");
            fixes.Add("  'systemctl daemon-reload' and restart the hub:");
            fixes.Add($"    LimitNOFILE={target}");
            fixes.Add("  the current shell (above the hard limit only as root):");
            fixes.Add($"    ulimit -n {target}");
        }

        var sysctl = new List<(string Key, ulong Value)>();
        if (nrOpenStatus == LimitStatus.TooLow)
        {
            sysctl.Add(("fs.nr_open", target));
        }

        if (checks.Single(c => c.Name == "fs.file-max").Status == LimitStatus.TooLow)
        {
            // System-wide: twice what the hub needs leaves room for every other process.
            sysctl.Add(("fs.file-max", target * 2));
        }

        foreach (var check in checks.Where(c => c.Status == LimitStatus.Low))
        {
            sysctl.Add((check.Name, RecommendedBacklog));
        }

        if (sysctl.Count > 0)
        {
            if (fixes.Count > 0)
            {
                fixes.Add(string.Empty);
            }

            fixes.Add(sysctl.Count == sysctl.Count(s => s.Key is "net.core.somaxconn" or "net.ipv4.tcp_max_syn_backlog")
                ? "Recommended kernel settings (as root), for now:"
                : "Kernel settings (as root), for now:");
            fixes.AddRange(sysctl.Select(s => $"    sysctl -w {s.Key}={s.Value}"));
            fixes.Add($"  and across reboots, in {SysctlFile} (then 'sysctl --system'):");
            fixes.AddRange(sysctl.Select(s => $"    {s.Key} = {s.Value}"));
            if (sysctl.Any(s => s.Key is "net.core.somaxconn" or "net.ipv4.tcp_max_syn_backlog"))
            {
                fixes.Add($"  (With {N(BacklogFleetSize)} agents or more, a hub restart makes them all reconnect at once; a short");
                fixes.Add("  accept queue drops connections, which then wait out a retransmission timeout.)");
            }
        }

        if (ports is { } portCount)
        {
            notes.Add($"A bench or test client on one source address can open at most {N(portCount)} connections to one hub");
            notes.Add($"address and port (the ephemeral range {limits.LocalPortRange}). The hub itself is not limited by it.");
            if ((ulong)agents > portCount)
            {
                var sources = ((ulong)agents + portCount - 1) / portCount;
                notes.Add($"To simulate {N(agents)} agents from one machine, use {sources} source addresses (127.0.0.1, 127.0.0.2, ...)");
                notes.Add("or widen the range: sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\".");
            }
        }

        return new DoctorReport(agents, needed, capacity, limits.CurrentAgentCapacity, fits, checks, fixes, notes);
    }

    /// <summary>The sentence that answers "how many agents can this hub hold?".</summary>
    public string CapacitySentence()
    {
        if (AgentCapacity is not { } capacity)
        {
            return "This hub process can hold an unknown number of agents: the open-files limit could not be read.";
        }

        var sentence = $"This hub process can hold about {N(capacity)} agents (open-files limit less {SystemLimits.ReservedDescriptors} reserved descriptors).";
        if (CurrentAgentCapacity is { } now && now < capacity)
        {
            sentence += $" Until the hub raises its soft limit at start: {N(now)}.";
        }

        return sentence;
    }

    public string Verdict() => Fits
        ? $"{N(Agents)} agents fit."
        : $"{N(Agents)} agents do NOT fit: raise the limits marked TOO LOW as shown below.";

    public static string StatusText(LimitStatus status) => status switch
    {
        LimitStatus.Ok => "OK",
        LimitStatus.TooLow => "TOO LOW",
        LimitStatus.Low => "LOW (advice)",
        LimitStatus.Unknown => "UNKNOWN",
        _ => "info",
    };

    /// <summary>A count with thousands separators; RLIM_INFINITY and the kernel's LONG_MAX ("no limit"
    /// for fs.file-max) read "unlimited".</summary>
    public static string N(ulong value) => value >= long.MaxValue ? "unlimited" : value.ToString("N0", CultureInfo.InvariantCulture);

    public static string N(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Text(ulong? value) => value is { } v ? N(v) : "?";

    private static LimitStatus Required(ulong? current, ulong needed) =>
        current is null ? LimitStatus.Unknown : current >= needed ? LimitStatus.Ok : LimitStatus.TooLow;

    private static LimitStatus Advised(ulong? current, ulong advised) =>
        current is null ? LimitStatus.Unknown : current >= advised ? LimitStatus.Ok : LimitStatus.Low;

    private static ulong RoundUp(ulong value, ulong step) => value > ulong.MaxValue - step ? value : (value + step - 1) / step * step;
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DoctorReport))]
internal sealed partial class DoctorJsonContext : JsonSerializerContext;
