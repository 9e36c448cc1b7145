using System.Text;
using Drover.Agent;

namespace Drover.Cli.Demo;

/// <summary>The in-process job handler of the demo's simulated agents: counts the lines, words and bytes of
/// the file, checks that every row has as many fields as the header, spends a few milliseconds as a real
/// handler would, and writes the counts as a small CSV to the out file. A row with the wrong number of
/// fields is exit code 2 with the row on stderr (a failed attempt: retried, then dead).</summary>
internal sealed class DemoJobHandler : IJobHandler
{
    public static DemoJobHandler Instance { get; } = new();

    public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
    {
        var content = await File.ReadAllBytesAsync(job.FilePath, cancellationToken).ConfigureAwait(false);
        var counts = Count(content);
        await Task.Delay(TimeSpan.FromMilliseconds(2 + Random.Shared.Next(9)), cancellationToken).ConfigureAwait(false);
        if (counts.BadRow > 0)
        {
            return new JobHandlerResult(2)
            {
                StderrTail = Encoding.UTF8.GetBytes($"row {counts.BadRow}: {counts.BadRowFields} fields; the header has {counts.HeaderFields}\n"),
            };
        }

        await File.WriteAllTextAsync(job.OutPath, $"lines,words,bytes\n{counts.Lines},{counts.Words},{counts.Bytes}\n", cancellationToken).ConfigureAwait(false);
        return new JobHandlerResult(0)
        {
            StdoutTail = Encoding.UTF8.GetBytes($"{counts.Lines} lines, {counts.Words} words, {counts.Bytes} bytes\n"),
        };
    }

    /// <summary>Lines (newline-terminated or not), whitespace-separated words, bytes, and the first row (1 = the
    /// first after the header) whose number of comma-separated fields differs from the header's; 0 if none.</summary>
    internal static FileCounts Count(ReadOnlySpan<byte> content)
    {
        int lines = 0, words = 0, headerFields = 0, badRow = 0, badRowFields = 0, fields = 1;
        var inWord = false;
        var lineHasBytes = false;
        for (var i = 0; i <= content.Length; i++)
        {
            var end = i == content.Length;
            var b = end ? (byte)'\n' : content[i];
            if (b == '\n')
            {
                if (!end || lineHasBytes)
                {
                    if (lines == 0)
                    {
                        headerFields = fields;
                    }
                    else if (badRow == 0 && fields != headerFields)
                    {
                        (badRow, badRowFields) = (lines, fields);
                    }

                    lines++;
                }

                (fields, lineHasBytes) = (1, false);
            }
            else
            {
                lineHasBytes = true;
                if (b == ',')
                {
                    fields++;
                }
            }

            var space = b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';
            if (!space && !inWord)
            {
                words++;
            }

            inWord = !space;
        }

        return new FileCounts(lines, words, content.Length, headerFields, badRow, badRowFields);
    }
}

/// <summary>What <see cref="DemoJobHandler.Count"/> found in a file.</summary>
internal readonly record struct FileCounts(int Lines, int Words, long Bytes, int HeaderFields, int BadRow, int BadRowFields);
