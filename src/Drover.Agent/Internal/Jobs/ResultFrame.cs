using Drover.Protocol;

namespace Drover.Agent.Internal.Jobs;

/// <summary>The job_result frame for a held result, made to fit welcome.max_frame_size (docs/protocol.md, Jobs,
/// rule 6): the out file is read from the job directory and left out (with an error saying so) when it does not
/// fit; tails are cut last.</summary>
internal static class ResultFrame
{
    /// <summary>The longest error a result carries, in UTF-16 code units.</summary>
    public const int MaxErrorLength = 4096;

    public static JobResult Build(HeldResult held, int maxFrame, long maxOutFileBytes)
    {
        var error = held.Error;
        ReadOnlyMemory<byte> outFile = default;
        if (held.OutPath is { } outPath)
        {
            // Room for the rest of the result and for an error saying the out file was left out.
            var rest = Make(held, default, default, default, error).PayloadSize + 256;
            var limit = Math.Max(0, Math.Min(maxOutFileBytes, maxFrame - rest));
            try
            {
                var length = new FileInfo(outPath).Length;
                if (length > limit)
                {
                    error = Join(error, JobExecutor.OutTooLarge(length, limit));
                }
                else
                {
                    var bytes = File.ReadAllBytes(outPath);
                    if (bytes.Length > limit)
                    {
                        error = Join(error, JobExecutor.OutTooLarge(bytes.Length, limit));
                    }
                    else
                    {
                        outFile = bytes;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error = Join(error, $"could not read the out file: {ex.Message}");
            }
        }

        if (error.Length > MaxErrorLength)
        {
            error = error[..MaxErrorLength];
        }

        var stdout = (ReadOnlyMemory<byte>)held.Stdout;
        var stderr = (ReadOnlyMemory<byte>)held.Stderr;
        var message = Make(held, stdout, stderr, outFile, error);
        while (message.PayloadSize > maxFrame && (stdout.Length > 0 || stderr.Length > 0))
        {
            // A hub with a small frame limit: keep the last half of each tail until it fits.
            stdout = stdout[(stdout.Length / 2)..];
            stderr = stderr[(stderr.Length / 2)..];
            if (stdout.Length == 1)
            {
                stdout = default;
            }

            if (stderr.Length == 1)
            {
                stderr = default;
            }

            message = Make(held, stdout, stderr, outFile, error);
        }

        return message;
    }

    private static JobResult Make(HeldResult h, ReadOnlyMemory<byte> stdout, ReadOnlyMemory<byte> stderr, ReadOnlyMemory<byte> outFile, string error) =>
        new(h.Key.JobId, h.Key.Attempt, h.Outcome, h.ExitCode, h.DurationMs, stdout, stderr, outFile, error);

    private static string Join(string a, string b) => a.Length == 0 ? b : a + "; " + b;
}
