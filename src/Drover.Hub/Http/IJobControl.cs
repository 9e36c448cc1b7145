using Drover.Hub.Jobs;
using Drover.Storage;

namespace Drover.Hub.Http;

/// <summary>What the HTTP API asks of the job dispatcher: submit, cancel, and the figures of /api/stats.
/// Reads of jobs and results go to the <see cref="IJobStore"/> instead.</summary>
internal interface IJobControl
{
    /// <summary>Queues <paramref name="jobs"/> as a whole once they are committed; throws
    /// <see cref="JobQueueFullException"/> or <see cref="StoreException"/> when they are not.</summary>
    Task SubmitAsync(IReadOnlyList<JobRecord> jobs, string submitter, CancellationToken cancellationToken);

    Task<(CancelResult Result, JobRecord? Job)> CancelAsync(string jobId, CancellationToken cancellationToken);

    long SubmittedTotal { get; }

    long FinishedTotal { get; }

    double FinishedPerSecond { get; }

    /// <summary>Job messages refused since start because their attempt is leased to another agent id.</summary>
    long ForeignMessages { get; }

    /// <summary>How many jobs the agent runs now.</summary>
    int InFlightOn(string agentId);
}

/// <summary>The dispatcher seen through <see cref="IJobControl"/>.</summary>
internal sealed class DispatcherJobControl(JobDispatcher dispatcher) : IJobControl
{
    public long SubmittedTotal => dispatcher.SubmittedTotal;

    public long FinishedTotal => dispatcher.FinishedTotal;

    public double FinishedPerSecond => dispatcher.FinishedPerSecond;

    public long ForeignMessages => dispatcher.ForeignMessages;

    public Task SubmitAsync(IReadOnlyList<JobRecord> jobs, string submitter, CancellationToken cancellationToken) => dispatcher.SubmitAsync(jobs, cancellationToken, submitter);

    public Task<(CancelResult Result, JobRecord? Job)> CancelAsync(string jobId, CancellationToken cancellationToken) => dispatcher.CancelAsync(jobId, cancellationToken);

    public int InFlightOn(string agentId) => dispatcher.InFlightOn(agentId);
}
