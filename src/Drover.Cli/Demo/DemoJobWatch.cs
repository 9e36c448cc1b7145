using System.Diagnostics;
using Drover.Api;
using Drover.Storage;

namespace Drover.Cli.Demo;

/// <summary>Finds the demo's latest finished jobs: each poll asks the hub (<c>GET /api/jobs/{id}</c>) about the
/// newest submitted jobs not yet seen finished, and keeps the latest <see cref="Keep"/> that are.</summary>
internal sealed class DemoJobWatch(HubApiClient api)
{
    /// <summary>How many finished jobs <see cref="Latest"/> holds.</summary>
    public const int Keep = 5;

    /// <summary>Jobs asked about per poll, at most.</summary>
    private const int AskPerPoll = 8;

    /// <summary>A job younger than this is not asked about yet: it has hardly had time to run.</summary>
    private static readonly TimeSpan MinAge = TimeSpan.FromMilliseconds(200);

    private readonly HashSet<string> _finished = new(StringComparer.Ordinal);
    private readonly List<JobView> _latest = [];

    /// <summary>The latest finished jobs, newest first.</summary>
    public IReadOnlyList<JobView> Latest => _latest;

    /// <summary>Asks about the newest of <paramref name="recent"/> (oldest first, as <see cref="DemoJobSender.Recent"/>
    /// gives them) and returns those newly seen finished, in the order they finished.</summary>
    public async Task<IReadOnlyList<JobView>> PollAsync(IReadOnlyList<(string Id, long At)> recent, CancellationToken cancellationToken)
    {
        _finished.IntersectWith(recent.Select(r => r.Id));
        var now = Stopwatch.GetTimestamp();
        var ask = recent
            .Where(r => !_finished.Contains(r.Id) && Stopwatch.GetElapsedTime(r.At, now) >= MinAge)
            .TakeLast(AskPerPoll)
            .Select(r => GetOrNullAsync(r.Id, cancellationToken))
            .ToArray();
        var found = (await Task.WhenAll(ask))
            .Where(j => j is { FinishedAt: not null } && JobStates.IsFinal(j!.State))
            .Select(j => j!)
            .OrderBy(j => j.FinishedAt)
            .ToArray();
        foreach (var job in found)
        {
            _finished.Add(job.Id);
            _latest.Insert(0, job);
        }

        _latest.Sort((a, b) => Nullable.Compare(b.FinishedAt, a.FinishedAt));
        if (_latest.Count > Keep)
        {
            _latest.RemoveRange(Keep, _latest.Count - Keep);
        }

        return found;
    }

    /// <summary>The first line of the job's stdout tail, else of its stderr tail (a failed job's reason).</summary>
    public static string FirstLine(JobView job)
    {
        var text = string.IsNullOrWhiteSpace(job.Stdout) ? job.Stderr : job.Stdout;
        text = text?.TrimStart() ?? string.Empty;
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }

    private async Task<JobView?> GetOrNullAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return await api.GetJobAsync(id, cancellationToken);
        }
        catch (HubApiException)
        {
            return null;
        }
    }
}
