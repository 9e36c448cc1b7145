using System.ComponentModel;
using System.Diagnostics;
using Drover.Agent.Internal;
using Drover.Agent.Internal.Jobs;

namespace Drover.Agent;

/// <summary>Runs each job as a child process made from a command template, as <c>drover agent --handler</c> does.
/// <para>The template may use <c>{file}</c> (the input file), <c>{out}</c> (where to write the output file),
/// <c>{job}</c> (the job id) and <c>{attempt}</c>. Without a shell the template is split into arguments like a
/// shell would (whitespace, '...' and "..." quoting, backslash escapes) and each placeholder is replaced inside
/// its argument, so a value never splits or joins arguments. With <c>useShell</c> the template runs as
/// <c>/bin/sh -c TEMPLATE</c> with each placeholder replaced by its value in single quotes.</para>
/// <para>The process runs in the job's directory, with stdin empty and these environment variables added:
/// <see cref="EnvironmentVariables"/> (NUL characters in values become U+FFFD). Its stdout and stderr
/// are read as they come and only their last <see cref="JobContext.OutputTailBytes"/> bytes are kept, so a
/// chatty handler never blocks. At the timeout or on cancel the whole process tree is killed.</para></summary>
public sealed class ProcessJobHandler : IJobHandler
{
    /// <summary>How long, after the handler exited, its stdout/stderr may stay open (a background child that
    /// inherited them) before the agent stops reading them. Real time.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Every environment variable a handler process gets on top of the agent's own environment, with its
    /// meaning: the one list behind <c>drover agent --help</c> and docs/protocol.md (a test checks both). NUL
    /// characters in the values that come from the hub become U+FFFD.</summary>
    public static IReadOnlyList<(string Name, string Meaning)> EnvironmentVariables { get; } =
    [
        ("DROVER_JOB_ID", "the job's id, as in the job frame"),
        ("DROVER_ATTEMPT", "the attempt number, 1 for the first placement, in decimal"),
        ("DROVER_FILE", "the absolute path of the input file: the job's content, written before the handler starts"),
        ("DROVER_OUT", "the absolute path where the handler may write its out file (it does not exist at the start)"),
        ("DROVER_FILE_NAME", "the file name the sender gave, metadata only (never a path the agent uses)"),
        ("DROVER_ARGS", "the job's args string, unsplit (the only place the args reach the handler)"),
        ("DROVER_AGENT_ID", "the id of the agent running the job"),
        ("DROVER_JOB_DIR", "the absolute path of the job's directory, which is also the working directory"),
    ];

    /// <summary>The environment list as one line for help text: "NAME (meaning), ...".</summary>
    public static string EnvironmentHelp =>
        "A handler gets these variables: " + string.Join("; ", EnvironmentVariables.Select(v => $"{v.Name} ({v.Meaning})")) + ".";

    private readonly string _template;
    private readonly string[] _argv;
    private readonly string _shell;

    /// <summary>Creates the handler; throws <see cref="ArgumentException"/> when the template is empty or its
    /// quoting is broken (without a shell).</summary>
    /// <param name="template">The command, e.g. <c>python3 process.py {file} --out {out}</c>.</param>
    /// <param name="useShell">Run through <paramref name="shell"/> <c>-c</c> (pipes, redirections, variables).</param>
    /// <param name="shell">The shell for <paramref name="useShell"/>. Default: <c>/bin/sh</c>.</param>
    public ProcessJobHandler(string template, bool useShell = false, string shell = "/bin/sh")
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentException.ThrowIfNullOrEmpty(shell);
        if (string.IsNullOrWhiteSpace(template))
        {
            throw new ArgumentException("the handler command is empty", nameof(template));
        }

        if (template.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("the handler command contains a NUL character", nameof(template));
        }

        _template = template;
        _shell = shell;
        UseShell = useShell;
        if (useShell)
        {
            _argv = [];
        }
        else if (!CommandLine.TrySplit(template, out _argv, out var error))
        {
            throw new ArgumentException($"handler command: {error}", nameof(template));
        }
    }

    /// <summary>The command template.</summary>
    public string Template => _template;

    /// <summary>Whether the template runs through a shell.</summary>
    public bool UseShell { get; }

    /// <summary>The program and arguments for <paramref name="job"/>: placeholders replaced (quoted for the shell).</summary>
    public IReadOnlyList<string> BuildArgv(JobContext job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (UseShell)
        {
            return [_shell, "-c", Substitute(_template, job, CommandLine.ShellQuote)];
        }

        var argv = new string[_argv.Length];
        for (var i = 0; i < argv.Length; i++)
        {
            argv[i] = Substitute(_argv[i], job, static v => v);
        }

        return argv;
    }

    /// <summary>The variables of <see cref="EnvironmentVariables"/> with their values for <paramref name="job"/>, in that order.</summary>
    public static IReadOnlyList<(string Name, string Value)> BuildEnvironment(JobContext job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return
        [
            ("DROVER_JOB_ID", Clean(job.JobId)),
            ("DROVER_ATTEMPT", job.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("DROVER_FILE", job.FilePath),
            ("DROVER_OUT", job.OutPath),
            ("DROVER_FILE_NAME", Clean(job.FileName)),
            ("DROVER_ARGS", Clean(job.Args)),
            ("DROVER_AGENT_ID", job.AgentId),
            ("DROVER_JOB_DIR", job.JobDirectory),
        ];
    }

    public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var argv = BuildArgv(job);
        var startInfo = new ProcessStartInfo(argv[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = job.JobDirectory,
        };
        for (var i = 1; i < argv.Count; i++)
        {
            startInfo.ArgumentList.Add(argv[i]);
        }

        foreach (var (name, value) in BuildEnvironment(job))
        {
            startInfo.Environment[name] = value;
        }

        cancellationToken.ThrowIfCancellationRequested();
        using var process = new Process { StartInfo = startInfo };
        try
        {
            if (!process.Start())
            {
                throw new InvalidOperationException($"could not start '{argv[0]}'");
            }
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"could not start '{argv[0]}': {ex.Message}", ex);
        }

        try
        {
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The process already exited and closed its end.
        }

        var stdout = new TailBuffer(job.OutputTailBytes);
        var stderr = new TailBuffer(job.OutputTailBytes);
        using var drain = new CancellationTokenSource();
        var stdoutTask = PumpAsync(process.StandardOutput.BaseStream, stdout, drain.Token);
        var stderrTask = PumpAsync(process.StandardError.BaseStream, stderr, drain.Token);

        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        // The pipes close when every process holding them is gone; a background child that kept them open
        // must not hold the job forever.
        drain.CancelAfter(DrainTimeout);
        await Task.WhenAll(stdoutTask, stderrTask).ConfigureAwait(false);

        return new JobHandlerResult(process.ExitCode)
        {
            StdoutTail = stdout.ToArray(),
            StderrTail = stderr.ToArray(),
        };
    }

    private static async Task PumpAsync(Stream stream, TailBuffer tail, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                tail.Write(buffer.AsSpan(0, read));
            }
        }
        catch (OperationCanceledException)
        {
            // Drain time is over.
        }
        catch (IOException)
        {
            // The pipe broke: keep what was read.
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (Win32Exception)
        {
            // Exiting as we kill it.
        }
    }

    /// <summary>Replaces each placeholder in one pass, so a substituted value is never scanned again.</summary>
    private static string Substitute(string text, JobContext job, Func<string, string> quote)
    {
        if (!text.Contains('{', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new System.Text.StringBuilder(text.Length + 64);
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf('{', i);
            if (open < 0)
            {
                result.Append(text, i, text.Length - i);
                break;
            }

            result.Append(text, i, open - i);
            var close = text.IndexOf('}', open + 1);
            var name = close < 0 ? null : text[(open + 1)..close];
            string? value = name switch
            {
                "file" => job.FilePath,
                "out" => job.OutPath,
                "job" => Clean(job.JobId),
                "attempt" => job.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => null,
            };
            if (value is null)
            {
                result.Append('{');
                i = open + 1;
                continue;
            }

            result.Append(quote(value));
            i = close + 1;
        }

        return result.ToString();
    }

    private static string Clean(string value) => value.Replace('\0', '\uFFFD');
}
