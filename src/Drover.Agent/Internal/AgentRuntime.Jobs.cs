using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal;

/// <summary>Jobs: accept or refuse, verify, write the input, run the handler with its timeout, keep each result
/// until the hub acknowledges it, and re-announce running jobs and unacknowledged results after each welcome.
/// <para>Who does what: the read loop only decides (accept or busy), answers and starts a task per job; it never
/// waits for a job. Each job's task verifies, writes, runs and sends its own result. Results sent from job tasks
/// and the re-announce after a welcome are ordered by <see cref="_jobSendLock"/>; <see cref="_jobGate"/> guards
/// the maps below and is never held across an await.</para>
/// <para>Memory: running jobs hold their content (at most JobSlots × 16 MiB) until it is written to disk; held
/// results keep only the tails in memory (the out file stays in the job directory until the ack), and there are at
/// most <see cref="AgentOptions.MaxUnackedResults"/> of them together with the running jobs.</para>
/// <para>Handler timeouts and durations use the real clock, not the options' clock: they bound real processes and
/// schedule nothing on the hub's timeline.</para></summary>
internal sealed partial class AgentRuntime
{
    /// <summary>How long a stopping agent waits for its killed handlers to exit. Real time.</summary>
    private static readonly TimeSpan JobStopTimeout = TimeSpan.FromSeconds(5);

    private static readonly SearchValues<char> SafeIdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    private static readonly SearchValues<char> ExtensionChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");

    private readonly object _jobGate = new();
    private readonly Dictionary<JobKey, RunningJob> _running = [];
    private readonly OrderedDictionary<JobKey, HeldResult> _results = [];
    private readonly SemaphoreSlim _jobSendLock = new(1, 1);
    private CancellationTokenSource? _jobsStop;
    private string? _workDirectory;
    private AgentConnection? _jobConnection;
    private CancellationToken _jobSessionToken;
    private bool _jobsStopping;
    private long _jobsAccepted;
    private long _jobsRefused;

    /// <summary>Frames from the hub up to this size are read: 16 MiB + 64 KiB for an agent that takes jobs.</summary>
    private int ReceiveFrameLimit => _options.JobSlots > 0 ? ProtocolConstants.MaxJobFrameSize : ProtocolConstants.DefaultMaxFrameSize;

    public int JobsInFlight
    {
        get
        {
            lock (_jobGate)
            {
                return _running.Count;
            }
        }
    }

    public int UnackedResults
    {
        get
        {
            lock (_jobGate)
            {
                return _results.Count;
            }
        }
    }

    public long JobsAccepted => Interlocked.Read(ref _jobsAccepted);

    public long JobsRefused => Interlocked.Read(ref _jobsRefused);

    private void InitJobs()
    {
        if (_options.JobSlots > 0)
        {
            _jobsStop = new CancellationTokenSource();
            _workDirectory = Path.GetFullPath(_options.WorkDirectory);
        }
    }

    /// <summary>Right after a welcome, before the read loop: job_accepted for every running job, then every result
    /// not yet acknowledged (oldest first). From here on, finished jobs send their results on this connection.</summary>
    private async Task ReannounceJobsAsync(AgentConnection connection, string hub, CancellationToken sessionToken)
    {
        if (_jobsStop is null)
        {
            return;
        }

        await _jobSendLock.WaitAsync(sessionToken).ConfigureAwait(false);
        try
        {
            JobKey[] running;
            HeldResult[] results;
            lock (_jobGate)
            {
                _jobConnection = connection;
                _jobSessionToken = sessionToken;
                running = [.. _running.Keys];
                results = [.. _results.Values];
                foreach (var result in results)
                {
                    result.SentOn = connection;
                }
            }

            foreach (var key in running)
            {
                await connection.SendAsync(new JobAccepted(key.JobId, key.Attempt), sessionToken).ConfigureAwait(false);
            }

            foreach (var result in results)
            {
                await connection.SendAsync(BuildResultMessage(result), sessionToken).ConfigureAwait(false);
            }

            if (running.Length + results.Length > 0)
            {
                Log.JobsReannounced(_logger, AgentId, hub, running.Length, results.Length);
            }
        }
        finally
        {
            _jobSendLock.Release();
        }
    }

    /// <summary>The session ended: results wait for the next one.</summary>
    private void DetachJobs(AgentConnection connection)
    {
        lock (_jobGate)
        {
            if (ReferenceEquals(_jobConnection, connection))
            {
                _jobConnection = null;
                _jobSessionToken = CancellationToken.None;
            }
        }
    }

    /// <summary>Read loop: a job frame. Answers at once (accepted or busy) and starts the job on its own task.</summary>
    private async ValueTask OnJobAsync(AgentConnection connection, string hub, Job job, CancellationToken cancellationToken)
    {
        var key = new JobKey(job.JobId, job.Attempt);
        string? busy = null;
        RunningJob? run = null;
        HeldResult? held = null;
        var again = false;
        lock (_jobGate)
        {
            if (_running.ContainsKey(key))
            {
                again = true;
            }
            else if (_results.TryGetValue(key, out held))
            {
                again = true;
                held.SentOn = null;
            }
            else if (_jobsStop is null || _options.JobHandler is null)
            {
                busy = "this agent takes no jobs";
            }
            else if (_jobsStopping)
            {
                busy = "stopping";
            }
            else if (_running.Count >= _options.JobSlots)
            {
                busy = "no free slot";
            }
            else if (_running.Count + _results.Count >= _options.MaxUnackedResults)
            {
                busy = $"{_results.Count} results wait for acknowledgement";
            }
            else
            {
                run = new RunningJob(key, CancellationTokenSource.CreateLinkedTokenSource(_jobsStop.Token));
                _running.Add(key, run);
            }
        }

        if (busy is not null)
        {
            Interlocked.Increment(ref _jobsRefused);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.JobBusy(_logger, AgentId, job.JobId, job.Attempt, busy);
            }

            EmitJob(AgentEventKind.JobBusy, hub, key, null, busy);
            await connection.SendAsync(new JobBusy(job.JobId, job.Attempt, busy), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (again)
        {
            // The hub sent a job it already gave us: the answer is the same, and a held result goes again.
            await connection.SendAsync(new JobAccepted(job.JobId, job.Attempt), cancellationToken).ConfigureAwait(false);
            if (held is not null)
            {
                await SendResultAsync(held).ConfigureAwait(false);
            }

            return;
        }

        Interlocked.Increment(ref _jobsAccepted);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.JobAccepted(_logger, AgentId, job.JobId, job.Attempt, job.Content.Length, job.TimeoutMs);
        }

        EmitJob(AgentEventKind.JobAccepted, hub, key, null, null);
        try
        {
            await connection.SendAsync(new JobAccepted(job.JobId, job.Attempt), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Started even if the answer could not be written: the job is ours, and it is announced again after
            // the next welcome. Started after the answer, so its result can never overtake it.
            // The content lives in the RunningJob only until it is on disk; the metadata copy carries none.
            run!.Content = job.Content;
            var metadata = job with { Content = default };
            run.Task = Task.Run(() => RunJobAsync(run, metadata), CancellationToken.None);
        }
    }

    /// <summary>Read loop: job_cancel. Kills a running job (reported as Cancelled); a job already finished keeps its
    /// result, which is sent again; anything else is ignored.</summary>
    private async ValueTask OnJobCancelAsync(string hub, JobCancel cancel)
    {
        var key = new JobKey(cancel.JobId, cancel.Attempt);
        RunningJob? run;
        HeldResult? held = null;
        lock (_jobGate)
        {
            if (!_running.TryGetValue(key, out run) && _results.TryGetValue(key, out held))
            {
                held.SentOn = null;
            }
        }

        if (run is not null)
        {
            Log.JobCancelled(_logger, AgentId, hub, cancel.JobId, cancel.Attempt, cancel.Reason);
            try
            {
                await run.Cancellation.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // It finished meanwhile: its result stands.
            }
        }
        else if (held is not null)
        {
            await SendResultAsync(held).ConfigureAwait(false);
        }
        else if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.JobCancelIgnored(_logger, AgentId, cancel.JobId, cancel.Attempt);
        }
    }

    /// <summary>Read loop: job_result_ack. Forgets the result and deletes the job's directory (off the read loop).</summary>
    private void OnJobResultAck(string hub, JobResultAck ack)
    {
        var key = new JobKey(ack.JobId, ack.Attempt);
        HeldResult? held;
        lock (_jobGate)
        {
            if (!_results.Remove(key, out held))
            {
                return;
            }
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.JobAcknowledged(_logger, AgentId, ack.JobId, ack.Attempt);
        }

        EmitJob(AgentEventKind.JobAcknowledged, hub, key, held.Outcome, null);
        if (held.Directory is { } directory)
        {
            _ = Task.Run(() => DeleteJobDirectory(directory), CancellationToken.None);
        }
    }

    private async Task RunJobAsync(RunningJob run, Job job)
    {
        HeldResult result;
        try
        {
            result = await ExecuteAsync(run, job).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A bug in the steps around the handler: still a result, so the hub learns of it.
            result = new HeldResult(run.Key, JobOutcome.StartFailed, -1, 0, [], [], null, 0, $"agent error: {ex.Message}", null);
        }

        bool keep;
        lock (_jobGate)
        {
            _running.Remove(run.Key);
            keep = !_jobsStopping;
            if (keep)
            {
                _results[run.Key] = result;
            }
        }

        run.Cancellation.Dispose();

        if (!keep)
        {
            // The agent is stopping: nobody will send this result; the hub requeues the job after its grace.
            if (result.Directory is { } directory)
            {
                DeleteJobDirectory(directory);
            }

            return;
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            Log.JobFinished(_logger, AgentId, run.Key.JobId, run.Key.Attempt, result.Outcome, result.ExitCode, result.DurationMs, result.Error);
        }

        EmitJob(AgentEventKind.JobFinished, _currentHub, run.Key, result.Outcome,
            result.Error.Length > 0 ? result.Error : $"exit code {result.ExitCode.ToString(CultureInfo.InvariantCulture)}");
        await SendResultAsync(result).ConfigureAwait(false);
    }

    /// <summary>Verify, write, run. Never throws for anything the job or the handler did.</summary>
    private async Task<HeldResult> ExecuteAsync(RunningJob run, Job job)
    {
        var key = run.Key;
        var content = run.Content;
        run.Content = default;
        var actual = SHA256.HashData(content.Span);
        if (job.Sha256.Length != ProtocolConstants.Sha256Length || !CryptographicOperations.FixedTimeEquals(actual, job.Sha256))
        {
            return new HeldResult(key, JobOutcome.HashMismatch, -1, 0, [], [], null, 0,
                $"sha256 of the {content.Length} bytes received is {Convert.ToHexStringLower(actual)}, the job says {Convert.ToHexStringLower(job.Sha256)}", null);
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
            return new HeldResult(key, JobOutcome.StartFailed, -1, 0, [], [], null, 0,
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

        using var timeoutCts = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation.Token, timeoutCts.Token);
        var started = Stopwatch.GetTimestamp();
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

        var duration = (uint)Math.Min(Stopwatch.GetElapsedTime(started).TotalMilliseconds, uint.MaxValue);
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

        string? keptOut = null;
        long outSize = 0;
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
                    keptOut = outPath;
                    outSize = info.Length;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"could not read the out file: {ex.Message}");
        }

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

    /// <summary>Sends a held result on the current connection unless it already went out on it. A write failure
    /// closes the connection (the read loop sees it); the result is sent again after the next welcome.</summary>
    private async Task SendResultAsync(HeldResult result)
    {
        AgentConnection? connection;
        CancellationToken token;
        lock (_jobGate)
        {
            connection = _jobConnection;
            token = _jobSessionToken;
        }

        if (connection is null)
        {
            return;
        }

        try
        {
            await _jobSendLock.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            lock (_jobGate)
            {
                if (!ReferenceEquals(connection, _jobConnection) || ReferenceEquals(result.SentOn, connection)
                    || !_results.ContainsKey(result.Key))
                {
                    return;
                }

                result.SentOn = connection;
            }

            await connection.SendAsync(BuildResultMessage(result), token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            connection.Abort();
        }
        finally
        {
            _jobSendLock.Release();
        }
    }

    /// <summary>The job_result frame for a held result, made to fit welcome.max_frame_size: the out file is read
    /// from the job directory and left out (with an error saying so) when it does not fit; tails are cut last.</summary>
    private JobResult BuildResultMessage(HeldResult held)
    {
        int maxFrame;
        lock (_gate)
        {
            maxFrame = _maxFrameSize;
        }

        var error = held.Error;
        ReadOnlyMemory<byte> outFile = default;
        if (held.OutPath is { } outPath)
        {
            // Room for the rest of the result and for an error saying the out file was left out.
            var rest = Make(held, default, default, default, error).PayloadSize + 256;
            var limit = Math.Max(0, Math.Min(_options.MaxOutFileBytes, maxFrame - rest));
            try
            {
                var length = new FileInfo(outPath).Length;
                if (length > limit)
                {
                    error = Join(error, OutTooLarge(length, limit));
                }
                else
                {
                    var bytes = File.ReadAllBytes(outPath);
                    if (bytes.Length > limit)
                    {
                        error = Join(error, OutTooLarge(bytes.Length, limit));
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

        if (error.Length > 4096)
        {
            error = error[..4096];
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

        static JobResult Make(HeldResult h, ReadOnlyMemory<byte> stdout, ReadOnlyMemory<byte> stderr, ReadOnlyMemory<byte> outFile, string error) =>
            new(h.Key.JobId, h.Key.Attempt, h.Outcome, h.ExitCode, h.DurationMs, stdout, stderr, outFile, error);

        static string Join(string a, string b) => a.Length == 0 ? b : a + "; " + b;
    }

    /// <summary>Kills running handlers when the agent stops and waits (bounded) for them to exit.</summary>
    private async Task StopJobsAsync()
    {
        if (_jobsStop is null)
        {
            return;
        }

        Task[] tasks;
        lock (_jobGate)
        {
            _jobsStopping = true;
            tasks = _running.Values.Select(r => r.Task).OfType<Task>().ToArray();
        }

        await _jobsStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(tasks).WaitAsync(JobStopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.JobsStillRunning(_logger, AgentId, tasks.Count(t => !t.IsCompleted));
        }
    }

    /// <summary><c>&lt;work dir&gt;/&lt;job&gt;-&lt;attempt&gt;</c>: the job id itself when it is 1-128 characters of
    /// [A-Za-z0-9._-], else "h-" and 32 hex digits of its SHA-256. Never anything outside the work directory.</summary>
    internal string JobDirectoryPath(JobKey key)
    {
        var name = JobDirectoryName(key);
        var path = Path.GetFullPath(Path.Combine(_workDirectory!, name));
        if (!string.Equals(Path.GetDirectoryName(path), _workDirectory!.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
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

    private byte[] Tail(ReadOnlyMemory<byte> bytes)
    {
        var max = _options.OutputTailBytes;
        return bytes.Length <= max ? bytes.ToArray() : bytes[^max..].ToArray();
    }

    private static string OutTooLarge(long size, long limit) =>
        $"out file of {size.ToString(CultureInfo.InvariantCulture)} bytes is over the limit of {limit.ToString(CultureInfo.InvariantCulture)}";

    private void DeleteJobDirectory(string directory)
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
            Log.JobDirectoryNotDeleted(_logger, AgentId, directory, ex.Message);
        }
    }

    private void EmitJob(AgentEventKind kind, string? hub, JobKey key, JobOutcome? outcome, string? detail)
    {
        _events?.Writer.TryWrite(new AgentEvent(kind, _time.GetUtcNow(), hub, DisconnectReason.None, ErrorCode.None, detail, null)
        {
            JobId = key.JobId,
            Attempt = key.Attempt,
            Outcome = outcome,
        });
    }

    internal readonly record struct JobKey(string JobId, uint Attempt);

    /// <summary>A job between job_accepted and its result. <see cref="Task"/> is set by the read loop right after the answer.</summary>
    private sealed class RunningJob(JobKey key, CancellationTokenSource cancellation)
    {
        public JobKey Key { get; } = key;

        /// <summary>Fires on job_cancel and when the agent stops (linked to the stop source). Disposed by the job's task.</summary>
        public CancellationTokenSource Cancellation { get; } = cancellation;

        public Task? Task { get; set; }

        /// <summary>The file, from the job frame until the job's task has written it (then cleared).</summary>
        public ReadOnlyMemory<byte> Content { get; set; }
    }

    /// <summary>A finished job's result, kept until the hub acknowledges it. The out file stays on disk in
    /// <see cref="Directory"/> and is read each time the result is sent. <see cref="SentOn"/> (under
    /// <see cref="_jobGate"/>) is the connection it last went out on, so it goes once per session.</summary>
    private sealed class HeldResult(
        JobKey Key,
        JobOutcome Outcome,
        int ExitCode,
        uint DurationMs,
        byte[] Stdout,
        byte[] Stderr,
        string? OutPath,
        long OutSize,
        string Error,
        string? Directory)
    {
        public JobKey Key { get; } = Key;

        public JobOutcome Outcome { get; } = Outcome;

        public int ExitCode { get; } = ExitCode;

        public uint DurationMs { get; } = DurationMs;

        public byte[] Stdout { get; } = Stdout;

        public byte[] Stderr { get; } = Stderr;

        public string? OutPath { get; } = OutPath;

        public long OutSize { get; } = OutSize;

        public string Error { get; } = Error;

        public string? Directory { get; } = Directory;

        public AgentConnection? SentOn { get; set; }
    }
}
