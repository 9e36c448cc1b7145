using System.Runtime.InteropServices;

namespace Drover.Hub.Os;

public sealed partial class SystemLimits
{
    /// <summary>The descriptors this process holds: the entries of /proc/self/fd (Linux), or null where that cannot be
    /// read. At 20,000 sockets a count costs a few milliseconds.</summary>
    public static long? CountOpenFiles()
    {
        const string Directory = "/proc/self/fd";
        try
        {
            return System.IO.Directory.Exists(Directory) ? System.IO.Directory.EnumerateFileSystemEntries(Directory).LongCount() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The process's open-files limit as (soft, hard), from <c>getrlimit(RLIMIT_NOFILE)</c>.
    /// On Windows, which has no such limit, both are <see cref="Unlimited"/>.</summary>
    public static (ulong Soft, ulong Hard) GetOpenFilesLimit()
    {
        if (OperatingSystem.IsWindows())
        {
            return (Unlimited, Unlimited);
        }

        if (Native.GetRLimit(Native.OpenFilesResource, out var limit) != 0)
        {
            throw new InvalidOperationException($"getrlimit(RLIMIT_NOFILE) failed with errno {Marshal.GetLastPInvokeError()}");
        }

        return (limit.Current, limit.Maximum);
    }

    /// <summary>Raises this process's open-files soft limit to its hard limit (no privilege needed) and
    /// returns the limit afterwards; the hub calls it at start and logs the values before
    /// (<see cref="GetOpenFilesLimit"/>) and after. On Linux the result has Soft == Hard unless the
    /// kernel refused. On other systems nothing is raised and the current values are returned.</summary>
    public static (ulong Soft, ulong Hard) RaiseOpenFilesLimit()
    {
        var current = GetOpenFilesLimit();
        if (!OperatingSystem.IsLinux() || current.Soft >= current.Hard)
        {
            return current;
        }

        // An "unlimited" hard limit still cannot exceed fs.nr_open for open files.
        var target = current.Hard;
        if (target == Unlimited && new SystemLimits().NrOpen is { } nrOpen)
        {
            target = nrOpen;
        }

        var raised = new Native.RLimit { Current = target, Maximum = current.Hard };
        return Native.SetRLimit(Native.OpenFilesResource, in raised) == 0 ? GetOpenFilesLimit() : current;
    }

    private static partial class Native
    {
        /// <summary>RLIMIT_NOFILE: 7 on Linux, 8 on macOS and the BSDs.</summary>
        public static int OpenFilesResource => OperatingSystem.IsLinux() ? 7 : 8;

        /// <summary>struct rlimit: two rlim_t, which are 64-bit on every 64-bit Unix .NET runs on.</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
        public static partial int GetRLimit(int resource, out RLimit limit);

        [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
        public static partial int SetRLimit(int resource, in RLimit limit);
    }
}
