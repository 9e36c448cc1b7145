using System.Globalization;
using Drover.Agent.Internal.Session;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Jobs;

/// <summary>Jobs: accept or refuse, run each on its own task (<see cref="JobExecutor"/>), keep each result until the
/// hub acknowledges it, and re-announce running jobs and unacknowledged results after each welcome
/// (<c>JobSlots.Results.cs</c>).
/// <para>Who does what: the read loop only decides (accept or busy), answers and starts a task per job; it never
/// waits for a job. Each job's task verifies, writes, runs and sends its own result. Results sent from job tasks
/// and the re-announce after a welcome are ordered by <see cref="_sendLock"/>; <see cref="_gate"/> guards
/// the maps below and is never held across an await.</para>
/// <para>Memory: running jobs hold their content (at most JobSlots × 16 MiB) until it is written to disk; held
/// results keep only the tails in memory (the out file stays in the job directory until the ack), and there are at
/// most <see cref="AgentOptions.MaxUnackedResults"/> of them together with the running jobs.</para></summary>
internal sealed partial class JobSlots : IDisposable
{
    /// <summary>How long a stopping agent waits for its killed handlers to exit. Real time.</summary>
    private static readonly TimeSpan JobStopTimeout = TimeSpan.FromSeconds(5);

    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly AgentEvents _events;
    private readonly HubLimits _limits;
    private readonly Func<string?> _currentHub;
    private readonly JobExecutor? _executor;

    private readonly object _gate = new();
    private readonly Dictionary<JobKey, RunningJob> _running = [];
    private readonly OrderedDictionary<JobKey, HeldResult> _results = [];
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource? _stop;
    private AgentConnection? _connection;
    private CancellationToken _sessionToken;
    private bool _stopping;
    private long _accepted;
    private long _refused;

    public JobSlots(AgentOptions options, AgentEvents events, HubLimits limits, Func<string?> currentHub)
    {
        _options = options;
        _logger = AgentLogging.For<JobSlots>(options);
        _events = events;
        _limits = limits;
        _currentHub = currentHub;
        if (options.JobSlots > 0)
        {
            _stop = new CancellationTokenSource();
            _executor = new JobExecutor(options);
        }
    }

    private string AgentId => _options.AgentId;

    /// <summary>Frames from the hub up to this size are read: 16 MiB + 64 KiB for an agent that takes jobs.</summary>
    public int ReceiveFrameLimit => _options.JobSlots > 0 ? ProtocolConstants.MaxJobFrameSize : ProtocolConstants.DefaultMaxFrameSize;

    public int InFlight
    {
        get
        {
            lock (_gate)
            {
                return _running.Count;
            }
        }
    }

    public int UnackedResults
    {
        get
        {
            lock (_gate)
            {
                return _results.Count;
            }
        }
    }

    public long Accepted => Interlocked.Read(ref _accepted);

    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Read loop: a job frame. Answers at once (accepted or busy) and starts the job on its own task.</summary>
    public async ValueTask OnJobAsync(AgentConnection connection, string hub, Job job, CancellationToken cancellationToken)
    {
        var key = new JobKey(job.JobId, job.Attempt);
        string? busy = null;
        RunningJob? run = null;
        HeldResult? held = null;
        var again = false;
        lock (_gate)
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
            else if (_stop is null || _options.JobHandler is null)
            {
                busy = "this agent takes no jobs";
            }
            else if (_stopping)
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
                run = new RunningJob(key, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token));
                _running.Add(key, run);
            }
        }

        if (busy is not null)
        {
            Interlocked.Increment(ref _refused);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.JobBusy(_logger, AgentId, LogText.Escape(job.JobId), job.Attempt, busy);
            }

            Emit(AgentEventKind.JobBusy, hub, key, null, busy);
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

        Interlocked.Increment(ref _accepted);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.JobAccepted(_logger, AgentId, LogText.Escape(job.JobId), job.Attempt, job.Content.Length, job.TimeoutMs);
        }

        Emit(AgentEventKind.JobAccepted, hub, key, null, null);
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
    public async ValueTask OnJobCancelAsync(string hub, JobCancel cancel)
    {
        var key = new JobKey(cancel.JobId, cancel.Attempt);
        RunningJob? run;
        HeldResult? held = null;
        lock (_gate)
        {
            if (!_running.TryGetValue(key, out run) && _results.TryGetValue(key, out held))
            {
                held.SentOn = null;
            }
        }

        if (run is not null)
        {
            Log.JobCancelled(_logger, AgentId, hub, LogText.Escape(cancel.JobId), cancel.Attempt, LogText.Escape(cancel.Reason, LogText.LongTextMaxLength));
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
            Log.JobCancelIgnored(_logger, AgentId, LogText.Escape(cancel.JobId), cancel.Attempt);
        }
    }

    /// <summary>Read loop: job_result_ack. Forgets the result and deletes the job's directory (off the read loop).</summary>
    public void OnJobResultAck(string hub, JobResultAck ack)
    {
        var key = new JobKey(ack.JobId, ack.Attempt);
        HeldResult? held;
        lock (_gate)
        {
            if (!_results.Remove(key, out held))
            {
                return;
            }
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.JobAcknowledged(_logger, AgentId, LogText.Escape(ack.JobId), ack.Attempt);
        }

        Emit(AgentEventKind.JobAcknowledged, hub, key, held.Outcome, null);
        if (held.Directory is { } directory)
        {
            _ = Task.Run(() => _executor!.DeleteJobDirectory(directory), CancellationToken.None);
        }
    }

    private async Task RunJobAsync(RunningJob run, Job job)
    {
        HeldResult result;
        try
        {
            result = await _executor!.ExecuteAsync(run, job).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A bug in the steps around the handler: still a result, so the hub learns of it.
            result = HeldResult.Failed(run.Key, JobOutcome.StartFailed, $"agent error: {ex.Message}");
        }

        bool keep;
        lock (_gate)
        {
            _running.Remove(run.Key);
            keep = !_stopping;
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
                _executor!.DeleteJobDirectory(directory);
            }

            return;
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            Log.JobFinished(_logger, AgentId, LogText.Escape(run.Key.JobId), run.Key.Attempt, result.Outcome, result.ExitCode, result.DurationMs, LogText.Escape(result.Error, LogText.LongTextMaxLength));
        }

        Emit(AgentEventKind.JobFinished, _currentHub(), run.Key, result.Outcome,
            result.Error.Length > 0 ? result.Error : $"exit code {result.ExitCode.ToString(CultureInfo.InvariantCulture)}");
        await SendResultAsync(result).ConfigureAwait(false);
    }

    /// <summary>Kills running handlers when the agent stops and waits (bounded) for them to exit.</summary>
    public async Task StopAsync()
    {
        if (_stop is null)
        {
            return;
        }

        Task[] tasks;
        lock (_gate)
        {
            _stopping = true;
            tasks = _running.Values.Select(r => r.Task).OfType<Task>().ToArray();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(tasks).WaitAsync(JobStopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.JobsStillRunning(_logger, AgentId, tasks.Count(t => !t.IsCompleted));
        }
    }

    /// <summary>Releases the stop source and the send lock; call after the run loop ended.</summary>
    public void Dispose()
    {
        _stop?.Dispose();
        _sendLock.Dispose();
    }

    private void Emit(AgentEventKind kind, string? hub, JobKey key, JobOutcome? outcome, string? detail) =>
        _events.EmitJob(kind, hub, key.JobId, key.Attempt, outcome, detail);
}
