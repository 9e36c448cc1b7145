namespace Drover.Fuzz;

/// <summary>Runs saved inputs through <see cref="FrameTarget"/> outside afl-fuzz: one line per input, and the full
/// exception (type, message, stack) for every finding.</summary>
public static class Replay
{
    /// <summary>True once <see cref="SetTraceMap"/> has given the instrumentation its map.</summary>
    private static bool _traceMapSet;

    /// <summary>Returns 0 when no input was a finding, 1 otherwise (2 when a path does not exist).</summary>
    public static int Run(IEnumerable<string> paths, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(output);
        SetTraceMap();
        var findings = 0;
        foreach (var path in paths)
        {
            string[] files;
            if (Directory.Exists(path))
            {
                // afl-fuzz puts a README.txt next to its crashes; it is not an input.
                files = [.. Directory.GetFiles(path).Where(f => Path.GetFileName(f) != "README.txt").Order(StringComparer.Ordinal)];
            }
            else if (File.Exists(path))
            {
                files = [path];
            }
            else
            {
                output.WriteLine($"{path}: no such file or folder");
                return 2;
            }

            foreach (var file in files)
            {
                var input = File.ReadAllBytes(file);
                var finding = Check(input, out var frames);
                if (finding is null)
                {
                    output.WriteLine($"ok       {file}: {input.Length} bytes, {frames} frames decoded");
                }
                else
                {
                    findings++;
                    output.WriteLine($"FINDING  {file}: {input.Length} bytes {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 64)))}");
                    output.WriteLine(finding);
                }
            }
        }

        output.WriteLine(findings == 0 ? "no findings" : $"{findings} findings");
        return findings == 0 ? 0 : 1;
    }

    /// <summary>Gives the instrumentation a map to write to, so that a build instrumented by sharpfuzz
    /// (artifacts/fuzz/bin) replays as the plain build does instead of failing on a null map (under afl-fuzz the map is
    /// afl's shared memory). Ownership: allocated once here, never freed: the process ends after the replay.</summary>
    private static unsafe void SetTraceMap()
    {
        if (!_traceMapSet)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
            _traceMapSet = true;
        }
    }

    /// <summary>Null when the input passes the target, else what escaped it.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Whatever escapes the target is the finding to report.")]
    public static Exception? Check(ReadOnlySpan<byte> input, out int frames)
    {
        frames = 0;
        try
        {
            frames = FrameTarget.Run(input);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }
}
