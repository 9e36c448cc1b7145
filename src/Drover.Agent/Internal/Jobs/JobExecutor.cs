using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Jobs;

/// <summary>One job's run, off the read loop: verify the content (SHA-256), write it into the job's own directory
/// under a safe name, run the handler with its timeout, and collect the result (tails, out file, errors).
/// <para>The timeout and the duration are on <see cref="AgentOptions.TimeProvider"/>, like every other wait of the
/// agent, so a test with a fake clock decides when a handler times out.</para></summary>
internal sealed class JobExecutor
{
    private static readonly SearchValues<char> SafeIdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    private static readonly SearchValues<char> ExtensionChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");

    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _workDirectory;

    public JobExecutor(AgentOptions options)
    {
        _options = options;
        _time = options.TimeProvider;
        _logger = AgentLogging.For<JobExecutor>(options);
        _workDirectory = Path.GetFullPath(options.WorkDirectory);
    }

    private string AgentId => _options.AgentId;

    /// <summary>Verify, write, run. Never throws for anything the job or the handler did.</summary>
    public async Task<HeldResult> ExecuteAsync(RunningJob run, Job job)
    {
        var key = run.Key;
        var content = run.Content;
        run.Content = default;
        var actual = SHA256.HashData(content.Span);
        if (job.Sha256.Length != ProtocolConstants.Sha256Length || !CryptographicOperations.FixedTimeEquals(actual, job.Sha256))
        {
            return HeldResult.Failed(key, JobOutcome.HashMismatch,
                $"sha256 of the {content.Length} bytes received is {Convert.ToHexStringLower(actual)}, the job says {Convert.ToHexStringLower(job.Sha256)}");
        }

        var directory = JobDirectoryPath(key);
        var inputPath = Path.Combine(directory, "input" + SafeExtension(job.FileName));
        var outPath = Path.Combine(directory, "out");
        try
        {
            if (Directory.Exists(directory))
            {
                // Left by an earlier run of this agent that stopped before the hub acknowledged it.
                Directory.Delete(directory, recursive: true);
            }

            Directory.CreateDirectory(directory);
            using var file = new FileStream(inputPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
            await file.WriteAsync(content, run.Cancellation.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            content = default;
            return HeldResult.Failed(key, JobOutcome.StartFailed,
                $"could not write the input file: {ex.Message}", Directory.Exists(directory) ? directory : null);
        }

        content = default;
        var timeout = job.TimeoutMs == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(job.TimeoutMs);
        var context = new JobContext
        {
            JobId = job.JobId,
            Attempt = job.Attempt,
            FileName = job.FileName,
            FilePath = inputPath,
            OutPath = outPath,
            JobDirectory = directory,
            Args = job.Args,
            Timeout = timeout,
            AgentId = AgentId,
            OutputTailBytes = _options.OutputTailBytes,
        };

        using var timeoutCts = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation.Token, timeoutCts.Token);
        var started = _time.GetTimestamp();
        JobHandlerResult? handled = null;
        string? failure = null;
        try
        {
            handled = await _options.JobHandler!.RunAsync(context, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // Timed out or cancelled: the outcome says which.
        }
        catch (Exception ex)
        {
            failure = ex.Message;
        }

        var duration = (uint)Math.Min(_time.GetElapsedTime(started).TotalMilliseconds, uint.MaxValue);
        var outcome = failure is not null ? JobOutcome.StartFailed
            : run.Cancellation.IsCancellationRequested ? JobOutcome.Cancelled
            : timeoutCts.IsCancellationRequested ? JobOutcome.TimedOut
            : JobOutcome.Completed;
        var errors = new List<string>(2);
        if (failure is not null)
        {
            errors.Add(failure);
        }
        else if (outcome == JobOutcome.TimedOut)
        {
            errors.Add($"killed at the timeout of {job.TimeoutMs} ms");
        }

        if (handled?.Error is { Length: > 0 } handlerError)
        {
            errors.Add(handlerError);
        }

        var (keptOut, outSize) = CheckOutFile(outPath, errors);
        return new HeldResult(
            key,
            outcome,
            handled?.ExitCode ?? -1,
            duration,
            Tail(handled?.StdoutTail ?? default),
            Tail(handled?.StderrTail ?? default),
            keptOut,
            outSize,
            string.Join("; ", errors),
            directory);
    }

    /// <summary>The out file to keep for the result: a regular file within the size limit, else none and an error.</summary>
    private (string? Path, long Size) CheckOutFile(string outPath, List<string> errors)
    {
        try
        {
            var info = new FileInfo(outPath);
            if (info.Exists)
            {
                if (info.LinkTarget is not null)
                {
                    errors.Add("the out file is a link; only a regular file is sent");
                }
                else if (info.Length > _options.MaxOutFileBytes)
                {
                    errors.Add(OutTooLarge(info.Length, _options.MaxOutFileBytes));
                }
                else
                {
                    return (outPath, info.Length);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"could not read the out file: {ex.Message}");
        }

        return (null, 0);
    }

    /// <summary><c>&lt;work dir&gt;/&lt;job&gt;-&lt;attempt&gt;</c>: the job id itself when it is 1-128 characters of
    /// [A-Za-z0-9._-], else "h-" and 32 hex digits of its SHA-256. Never anything outside the work directory.</summary>
    internal string JobDirectoryPath(JobKey key)
    {
        var name = JobDirectoryName(key);
        var path = Path.GetFullPath(Path.Combine(_workDirectory, name));
        if (!string.Equals(Path.GetDirectoryName(path), _workDirectory.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"job directory '{name}' would leave the work directory");
        }

        return path;
    }

    internal static string JobDirectoryName(JobKey key)
    {
        var id = key.JobId;
        var stem = id.Length is >= 1 and <= 128 && !id.AsSpan().ContainsAnyExcept(SafeIdChars)
            ? id
            : "h-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..32];
        return stem + "-" + key.Attempt.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The sender's extension when it is a dot and 1-16 ASCII letters or digits (".txt", ".py"), else "".</summary>
    internal static string SafeExtension(string fileName)
    {
        var dot = fileName.LastIndexOf('.');
        if (dot < 0)
        {
            return string.Empty;
        }

        var extension = fileName.AsSpan(dot + 1);
        return extension.Length is >= 1 and <= 16 && !extension.ContainsAnyExcept(ExtensionChars)
            ? "." + extension.ToString()
            : string.Empty;
    }

    internal static string OutTooLarge(long size, long limit) =>
        $"out file of {size.ToString(CultureInfo.InvariantCulture)} bytes is over the limit of {limit.ToString(CultureInfo.InvariantCulture)}";

    public void DeleteJobDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.JobDirectoryNotDeleted(_logger, AgentId, LogText.Escape(directory, LogText.LongTextMaxLength), LogText.Escape(ex.Message, LogText.LongTextMaxLength));
        }
    }

    private byte[] Tail(ReadOnlyMemory<byte> bytes)
    {
        var max = _options.OutputTailBytes;
        return bytes.Length <= max ? bytes.ToArray() : bytes[^max..].ToArray();
    }
}
