using Xunit;

namespace Drover.TestUtilities;

/// <summary>Where tests find the repository's files and the machine's programs.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Drover.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no folder above {AppContext.BaseDirectory} holds Drover.slnx");
    });

    /// <summary>The folder that holds Drover.slnx.</summary>
    public static string RepositoryRoot => Root.Value;

    public static string RepositoryFile(params string[] parts) => Path.Combine([RepositoryRoot, .. parts]);

    /// <summary>The full path of <paramref name="program"/> on the PATH, or null.</summary>
    public static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    /// <summary>python3 from the PATH; fails the test with the fix if it is missing.</summary>
    public static string RequirePython()
    {
        var python = FindOnPath("python3");
        Assert.True(python is not null, "python3 is not on the PATH; .ci/run installs Debian's python3");
        return python!;
    }

    /// <summary>The Python agent sketch from docs/protocol.md (its first ```python block).</summary>
    public static string ProtocolDocPythonAgent()
    {
        var doc = File.ReadAllText(RepositoryFile("docs", "protocol.md"));
        var start = doc.IndexOf("```python\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/protocol.md has no ```python block");
        start += "```python\n".Length;
        return doc[start..doc.IndexOf("\n```", start, StringComparison.Ordinal)];
    }

    /// <summary>Deletes a test's scratch folder; one that is busy or already gone is left alone (a leftover
    /// temporary folder must not fail the test that made it).</summary>
    public static void DeleteDirectoryQuietly(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Busy or gone.
        }
    }
}
