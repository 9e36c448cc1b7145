namespace Drover.Cli.Tests;

/// <summary>A fake <c>/proc</c> tree of real files in a temporary folder, deleted on dispose.</summary>
internal sealed class FakeProc : IDisposable
{
    public FakeProc(
        string? openFiles = "1024                 524288",
        string? fileMax = "9223372036854775807",
        string? nrOpen = "1048576",
        string? somaxconn = "4096",
        string? synBacklog = "4096",
        string? portRange = "32768\t60999")
    {
        Root = Path.Combine(Path.GetTempPath(), "drover-proc-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        if (openFiles is not null)
        {
            Write("self/limits", $"""
                Limit                     Soft Limit           Hard Limit           Units
                Max cpu time              unlimited            unlimited            seconds
                Max stack size            8388608              unlimited            bytes
                Max processes             96364                96364                processes
                Max open files            {openFiles}               files
                Max locked memory         8388608              8388608              bytes

                """);
        }

        WriteIf("sys/fs/file-max", fileMax);
        WriteIf("sys/fs/nr_open", nrOpen);
        WriteIf("sys/net/core/somaxconn", somaxconn);
        WriteIf("sys/net/ipv4/tcp_max_syn_backlog", synBacklog);
        WriteIf("sys/net/ipv4/ip_local_port_range", portRange);
    }

    public string Root { get; }

    public void Write(string relativePath, string content)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void WriteIf(string relativePath, string? value)
    {
        if (value is not null)
        {
            Write(relativePath, value + "\n");
        }
    }
}
