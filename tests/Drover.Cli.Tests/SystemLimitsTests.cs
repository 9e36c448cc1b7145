using System.Runtime.InteropServices;
using Drover.Hub.Os;

namespace Drover.Cli.Tests;

public sealed class SystemLimitsTests
{
    [Fact]
    public void Reads_every_limit_from_a_proc_tree()
    {
        using var proc = new FakeProc(
            openFiles: "1024                 524288",
            fileMax: "9223372036854775807",
            nrOpen: "1048576",
            somaxconn: "4096",
            synBacklog: "2048",
            portRange: "32768\t60999");

        var limits = new SystemLimits(proc.Root);

        Assert.Equal(proc.Root, limits.ProcRoot);
        Assert.Equal(1024UL, limits.OpenFilesSoft);
        Assert.Equal(524_288UL, limits.OpenFilesHard);
        Assert.Equal(9_223_372_036_854_775_807UL, limits.FileMax);
        Assert.Equal(1_048_576UL, limits.NrOpen);
        Assert.Equal(4096UL, limits.SoMaxConn);
        Assert.Equal(2048UL, limits.TcpMaxSynBacklog);
        Assert.Equal(new PortRange(32768, 60999), limits.LocalPortRange);
        Assert.Equal(28_232UL, limits.MaxOutboundClientsPerSourceAddress);
        Assert.Empty(limits.Notes);
    }

    [Fact]
    public void Unlimited_open_files_is_read_as_unlimited()
    {
        using var proc = new FakeProc(openFiles: "unlimited            unlimited");
        var limits = new SystemLimits(proc.Root);
        Assert.Equal(SystemLimits.Unlimited, limits.OpenFilesSoft);
        Assert.Equal(SystemLimits.Unlimited, limits.OpenFilesHard);
    }

    [Fact]
    public void Missing_files_give_null_and_a_note_each()
    {
        using var proc = new FakeProc(openFiles: null, fileMax: null, nrOpen: null, somaxconn: null, synBacklog: null, portRange: null);
        var limits = new SystemLimits(proc.Root);

        Assert.Null(limits.OpenFilesSoft);
        Assert.Null(limits.OpenFilesHard);
        Assert.Null(limits.FileMax);
        Assert.Null(limits.NrOpen);
        Assert.Null(limits.SoMaxConn);
        Assert.Null(limits.TcpMaxSynBacklog);
        Assert.Null(limits.LocalPortRange);
        Assert.Null(limits.AgentCapacity);
        Assert.Null(limits.CurrentAgentCapacity);
        Assert.Null(limits.MaxOutboundClientsPerSourceAddress);
        Assert.Equal(6, limits.Notes.Count);
        Assert.Contains(limits.Notes, n => n.Contains("self/limits", StringComparison.Ordinal) && n.Contains("not found", StringComparison.Ordinal));
        Assert.Contains(limits.Notes, n => n.Contains("fs.file-max is unknown", StringComparison.Ordinal));
        Assert.Contains(limits.Notes, n => n.Contains("net.ipv4.ip_local_port_range is unknown", StringComparison.Ordinal));
    }

    [Fact]
    public void A_proc_root_that_does_not_exist_gives_nulls_not_exceptions()
    {
        var limits = new SystemLimits(Path.Combine(Path.GetTempPath(), "drover-no-such-proc-" + Guid.NewGuid().ToString("N")));
        Assert.Null(limits.OpenFilesHard);
        Assert.Equal(6, limits.Notes.Count);
    }

    [Fact]
    public void Unparseable_values_give_null_and_a_note()
    {
        using var proc = new FakeProc(fileMax: "lots", portRange: "60999");
        proc.Write("self/limits", "Limit Soft Hard\nMax open files  many  more  files\n");
        var limits = new SystemLimits(proc.Root);

        Assert.Null(limits.OpenFilesSoft);
        Assert.Null(limits.FileMax);
        Assert.Null(limits.LocalPortRange);
        Assert.Contains(limits.Notes, n => n.Contains("cannot parse \"lots\"", StringComparison.Ordinal));
        Assert.Contains(limits.Notes, n => n.Contains("Max open files", StringComparison.Ordinal));
        Assert.Equal(1_048_576UL, limits.NrOpen); // the others are still read
    }

    [Fact]
    public void Limits_file_without_an_open_files_line_is_noted()
    {
        using var proc = new FakeProc();
        proc.Write("self/limits", "Limit Soft Hard\nMax cpu time unlimited unlimited seconds\n");
        var limits = new SystemLimits(proc.Root);
        Assert.Null(limits.OpenFilesHard);
        Assert.Contains(limits.Notes, n => n.Contains("no \"Max open files\" line", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1024UL, null, 512UL)]
    [InlineData(20_000UL, null, 19_488UL)]
    [InlineData(20_000UL, 10_000UL, 9_488UL)] // fs.file-max caps it
    [InlineData(1_048_576UL, 9_223_372_036_854_775_807UL, 1_048_064UL)]
    [InlineData(512UL, null, 0UL)]
    [InlineData(10UL, null, 0UL)] // never negative
    public void Capacity_is_the_open_files_limit_less_the_reserve_capped_by_file_max(ulong openFiles, ulong? fileMax, ulong expected)
    {
        Assert.Equal(expected, SystemLimits.AgentCapacityFor(openFiles, fileMax));
    }

    [Fact]
    public void Descriptors_needed_are_agents_plus_the_reserve()
    {
        Assert.Equal(512, SystemLimits.ReservedDescriptors);
        Assert.Equal(10_512UL, SystemLimits.DescriptorsNeededFor(10_000));
        Assert.Equal(SystemLimits.Unlimited, SystemLimits.DescriptorsNeededFor(ulong.MaxValue));
    }

    [Fact]
    public void Capacity_uses_the_hard_limit_and_current_capacity_the_soft_one()
    {
        using var proc = new FakeProc(openFiles: "1024                 20000", fileMax: "2466174");
        var limits = new SystemLimits(proc.Root);
        Assert.Equal(512UL, limits.CurrentAgentCapacity);
        Assert.Equal(19_488UL, limits.AgentCapacity);
    }

    [Fact]
    public void RaiseOpenFilesLimit_sets_soft_to_hard_on_linux()
    {
        var start = SystemLimits.GetOpenFilesLimit();
        if (OperatingSystem.IsLinux() && start.Hard > 512)
        {
            // Lower the soft limit first (no privilege needed), so that there is something to raise.
            var lowered = new RLimit { Current = 512, Maximum = start.Hard };
            Assert.Equal(0, setrlimit(7, ref lowered));
        }

        var before = SystemLimits.GetOpenFilesLimit();
        var after = SystemLimits.RaiseOpenFilesLimit();

        Assert.Equal(before.Hard, after.Hard);
        Assert.True(after.Soft >= before.Soft);
        if (OperatingSystem.IsLinux())
        {
            Assert.True(before.Soft <= 512 || start.Hard <= 512);
            Assert.Equal(after.Hard, after.Soft);
            Assert.Equal(after, SystemLimits.GetOpenFilesLimit());
            Assert.Equal(after.Soft, new SystemLimits().OpenFilesSoft); // /proc/self/limits agrees
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setrlimit(int resource, ref RLimit limit);
}
