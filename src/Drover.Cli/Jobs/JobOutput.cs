using Drover.Api;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Drover.Cli.Jobs;

/// <summary>How the job commands print jobs and results: plain lines (stable when piped), a Spectre table
/// for listings, one compact JSON object per line with --json.</summary>
internal static class JobOutput
{
    public static void WriteJson(JobView job) => Console.Out.WriteLine(Json(job));

    /// <summary>The job as one compact JSON object.</summary>
    public static string Json(JobView job) => JsonSerializer.Serialize(job, ApiJsonContext.Default.JobView);

    /// <summary>One line for a finished (or any) job, then its stdout and stderr tails.</summary>
    public static void WriteJobLine(JobView job) => Console.Out.WriteLine(JobLine(job));

    /// <summary>The text of <see cref="WriteJobLine"/>, without the last line feed.</summary>
    public static string JobLine(JobView job)
    {
        var line = new StringBuilder($"{job.Id}  {job.State,-9}  {job.Name}");
        Append(line, "agent", job.Agent);
        if (job.Attempt > 0)
        {
            line.Append(CultureInfo.InvariantCulture, $"  attempt {job.Attempt}");
        }

        Append(line, "exit", job.ExitCode?.ToString(CultureInfo.InvariantCulture));
        if (job.Outcome is { } outcome && outcome != "completed")
        {
            line.Append("  ").Append(outcome);
        }

        if (job.DurationMs is { } ms)
        {
            line.Append("  ").Append(FormatMs(ms));
        }

        Append(line, "reason:", job.DeadReason);
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        text.WriteLine(line.ToString());
        WriteTails(job.Stdout, job.Stderr, text);
        return text.ToString().TrimEnd('\n');
    }

    /// <summary>Every field of one job, one per line, then its tails.</summary>
    public static void WriteJobDetail(JobView job)
    {
        WriteField("id", job.Id);
        WriteField("state", job.State);
        WriteField("name", job.Name);
        WriteField("size", $"{job.Size} bytes");
        WriteField("sha256", job.Sha256);
        WriteField("target", job.Target);
        WriteField("args", string.IsNullOrEmpty(job.Args) ? null : job.Args);
        WriteField("priority", job.Priority.ToString(CultureInfo.InvariantCulture));
        WriteField("timeout", FormatMs(job.TimeoutMs));
        WriteField("retries", job.Retries.ToString(CultureInfo.InvariantCulture));
        WriteField("attempt", job.Attempt.ToString(CultureInfo.InvariantCulture));
        WriteField("agent", job.Agent);
        WriteField("submitted", FormatTime(job.SubmittedAt));
        WriteField("finished", FormatTime(job.FinishedAt));
        WriteField("outcome", job.Outcome);
        WriteField("exit code", job.ExitCode?.ToString(CultureInfo.InvariantCulture));
        WriteField("duration", job.DurationMs is { } ms ? FormatMs(ms) : null);
        WriteField("dead reason", job.DeadReason);
        WriteTails(job.Stdout, job.Stderr);
    }

    public static void WriteResult(ResultView result)
    {
        WriteField("job", result.JobId);
        WriteField("attempt", result.Attempt.ToString(CultureInfo.InvariantCulture));
        WriteField("agent", result.Agent);
        WriteField("outcome", result.Outcome);
        WriteField("exit code", result.ExitCode?.ToString(CultureInfo.InvariantCulture));
        WriteField("duration", result.DurationMs is { } ms ? FormatMs(ms) : null);
        WriteField("out file", result.OutFileSize is { } size ? $"{size} bytes" : "none");
        WriteField("error", result.Error);
        WriteField("recorded", FormatTime(result.RecordedAt));
        WriteTails(result.Stdout, result.Stderr);
    }

    public static void WriteTable(IReadOnlyList<JobView> jobs, bool more)
    {
        var table = new CliTable("id", "state", "name", "agent", "attempt", "exit", "duration", "submitted").Wrap(2).RightAligned(4);
        foreach (var job in jobs)
        {
            var color = job.State switch { "done" => "green", "running" => "blue", "queued" => "grey", "dead" => "red", _ => "yellow" };
            var exit = job.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-";
            if (job.Outcome is { } outcome && outcome != "completed")
            {
                exit += " " + outcome;
            }

            table.AddRow(
                job.Id,
                new CliCell(job.State, color),
                job.Name ?? "-",
                job.Agent ?? "-",
                job.Attempt.ToString(CultureInfo.InvariantCulture),
                exit,
                job.DurationMs is { } ms ? FormatMs(ms) : "-",
                FormatTime(job.SubmittedAt) ?? "-");
        }

        table.Write();
        Console.Out.WriteLine($"{jobs.Count} jobs{(more ? " (more: raise --limit or narrow with --state/--agent)" : string.Empty)}");
    }

    /// <summary>"  stdout: text" for a one-line tail, else the lines indented under "  stdout:"; nothing for an empty tail.</summary>
    public static void WriteTails(string? stdout, string? stderr, TextWriter? output = null)
    {
        WriteTail("stdout", stdout, output ?? Console.Out);
        WriteTail("stderr", stderr, output ?? Console.Out);
    }

    public static string FormatMs(long ms) => ms switch
    {
        < 10_000 => $"{ms} ms",
        < 120_000 => $"{ms / 1000.0:0.#} s",
        < 7_200_000 => $"{ms / 60_000.0:0.#} min",
        _ => $"{ms / 3_600_000.0:0.#} h",
    };

    private static void WriteTail(string label, string? tail, TextWriter output)
    {
        var text = tail?.TrimEnd('\n', '\r');
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var lines = text.Split('\n');
        if (lines.Length == 1)
        {
            output.WriteLine($"  {label}: {text}");
            return;
        }

        output.WriteLine($"  {label}:");
        foreach (var line in lines)
        {
            output.WriteLine("    " + line.TrimEnd('\r'));
        }
    }

    private static void WriteField(string name, string? value) => Console.Out.WriteLine($"{name + ":",-13}{value ?? "-"}");

    private static void Append(StringBuilder line, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            line.Append("  ").Append(name).Append(' ').Append(value);
        }
    }

    private static string? FormatTime(DateTimeOffset? time) =>
        time?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
