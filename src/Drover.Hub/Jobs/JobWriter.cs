using System.Threading.Channels;
using Drover.Hub.Status;
using Drover.Storage;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Jobs;

/// <summary>The group commit for job state. Every change (submissions, leases, results, requeues, expiries)
/// goes into one channel with a waiter; one loop takes everything pending, applies it with one
/// <see cref="IJobStore.ApplyAsync"/> (one transaction, one fsync) and completes the waiters with what the
/// store said. No timer: under light load each change commits at once; under heavy load the changes that
/// arrive while a commit runs go together into the next. If the store fails, every waiter in that batch
/// fails with the error (nothing of the batch was stored), and only they: the next batch is tried afresh, so commits
/// succeed again as soon as the store does (space freed on a full disk). Each caller decides what a failure means
/// (a submitter gets 507 or 500, a lease is put back, a result is tried again); <see cref="StoreFailureLog"/> decides
/// which failures are logged.</summary>
internal sealed class JobWriter
{
    private readonly Channel<Change> _changes = Channel.CreateUnbounded<Change>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IJobStore _store;
    private readonly ILogger _logger;
    private readonly StoreFailureLog _failures;
    private readonly Metrics.HubMetrics _metrics;

    public JobWriter(IJobStore store, ILogger logger, TimeProvider time, Metrics.HubMetrics metrics)
    {
        _metrics = metrics;
        _store = store;
        _logger = logger;
        _failures = new StoreFailureLog(time);
    }

    /// <summary>Transactions committed since start.</summary>
    public long Commits { get; private set; }

    /// <summary>Changes committed since start.</summary>
    public long ChangesCommitted { get; private set; }

    public Task SubmitAsync(IReadOnlyList<JobRecord> jobs) => Enqueue(new SubmitChange(jobs));

    public Task<bool> LeaseAsync(JobLease lease) => Enqueue(new LeaseChange(lease));

    public Task<ResultRecording> ResultAsync(JobResultSubmission result) => Enqueue(new ResultChange(result));

    public Task<int> RequeueAsync(JobRequeue requeue) => Enqueue(new RequeueChange(requeue));

    public Task<bool> ExpireAsync(JobExpiry expiry) => Enqueue(new ExpireChange(expiry));

    /// <summary>No more changes are taken; <see cref="RunAsync"/> commits what is pending and ends.</summary>
    public void Complete() => _changes.Writer.TryComplete();

    /// <summary>The loop: until <see cref="Complete"/> was called and everything pending is committed.</summary>
    public async Task RunAsync()
    {
        var batch = new List<Change>();
        while (await _changes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_changes.Reader.TryRead(out var change))
            {
                batch.Add(change);
            }

            await CommitAsync(batch).ConfigureAwait(false);
            batch.Clear();
        }
    }

    private Task<T> Enqueue<T>(Change<T> change)
    {
        if (!_changes.Writer.TryWrite(change))
        {
            return Task.FromException<T>(new StoreException("the hub is stopping; the job store takes no more changes"));
        }

        return change.Task;
    }

    private Task Enqueue(SubmitChange change)
    {
        if (!_changes.Writer.TryWrite(change))
        {
            return Task.FromException(new StoreException("the hub is stopping; the job store takes no more changes"));
        }

        return change.Task;
    }

    private async Task CommitAsync(List<Change> changes)
    {
        var submit = new List<JobRecord>();
        var leases = new List<JobLease>();
        var results = new List<JobResultSubmission>();
        var requeues = new List<JobRequeue>();
        var expiries = new List<JobExpiry>();
        foreach (var change in changes)
        {
            switch (change)
            {
                case SubmitChange s:
                    submit.AddRange(s.Jobs);
                    break;
                case LeaseChange l:
                    leases.Add(l.Lease);
                    break;
                case ResultChange r:
                    results.Add(r.Result);
                    break;
                case RequeueChange q:
                    requeues.Add(q.Requeue);
                    break;
                case ExpireChange e:
                    expiries.Add(e.Expiry);
                    break;
            }
        }

        JobBatchOutcome outcome;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            outcome = await _store.ApplyAsync(
                new JobBatch { Submit = submit, Leases = leases, Results = results, Requeues = requeues, Expire = expiries },
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (_failures.Failure(ex, out var failures))
            {
                Log.JobCommitFailed(_logger, changes.Count, failures, ex.Message, ex is StoreException { IsFull: true } ? null : ex);
            }

            foreach (var change in changes)
            {
                change.Fail(ex);
            }

            return;
        }

        _metrics.JobsFlushed(System.Diagnostics.Stopwatch.GetElapsedTime(started), changes.Count);
        if (_failures.Success(out var failed, out var failedFor))
        {
            Log.JobCommitRecovered(_logger, failed, failedFor.TotalSeconds);
        }

        Commits++;
        ChangesCommitted += changes.Count;
        int lease = 0, result = 0, requeue = 0, expire = 0;
        foreach (var change in changes)
        {
            switch (change)
            {
                case SubmitChange s:
                    s.Succeed();
                    break;
                case LeaseChange l:
                    l.Succeed(outcome.Leased[lease++]);
                    break;
                case ResultChange r:
                    r.Succeed(outcome.Results[result++]);
                    break;
                case RequeueChange q:
                    q.Succeed(outcome.Requeued[requeue++]);
                    break;
                case ExpireChange e:
                    e.Succeed(outcome.Expired[expire++]);
                    break;
            }
        }
    }

    private abstract class Change
    {
        public abstract void Fail(Exception exception);
    }

    private abstract class Change<T> : Change
    {
        // Continuations run on the thread pool, never inside the commit loop.
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _done.Task;

        public void Succeed(T value) => _done.TrySetResult(value);

        public override void Fail(Exception exception) => _done.TrySetException(exception);
    }

    private sealed class SubmitChange(IReadOnlyList<JobRecord> jobs) : Change
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<JobRecord> Jobs { get; } = jobs;

        public Task Task => _done.Task;

        public void Succeed() => _done.TrySetResult();

        public override void Fail(Exception exception) => _done.TrySetException(exception);
    }

    private sealed class LeaseChange(JobLease lease) : Change<bool>
    {
        public JobLease Lease { get; } = lease;
    }

    private sealed class ResultChange(JobResultSubmission result) : Change<ResultRecording>
    {
        public JobResultSubmission Result { get; } = result;
    }

    private sealed class RequeueChange(JobRequeue requeue) : Change<int>
    {
        public JobRequeue Requeue { get; } = requeue;
    }

    private sealed class ExpireChange(JobExpiry expiry) : Change<bool>
    {
        public JobExpiry Expiry { get; } = expiry;
    }
}
