using System.Diagnostics;
using System.Globalization;
using Drover.Hub;
using Drover.Api;
using Drover.Storage;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Drover.Cli.Demo;

/// <summary>What <c>drover demo</c> shows each second: agents by presence and reports per second (from the hub
/// in this process), jobs sent/done/dead and finished per second (the job counts from <c>GET /api/stats</c>),
/// and the latest finished jobs. On a terminal it is one live panel redrawn in place; when the output is
/// redirected, one line a second plus a line per newly seen result.</summary>
internal sealed class DemoView(DroverHub hub, HubApiClient api, DemoJobSender sender, JobStatsView baseline, Stopwatch started)
{
    private readonly DemoJobWatch _watch = new(api);
    private long _reports = hub.ReportsRecorded;
    private long _reportsPerSecond;
    private IReadOnlyDictionary<Presence, int> _presence = hub.CountAgentsByPresence();
    private readonly JobStatsView _baseline = baseline;
    private JobStatsView _jobs = baseline;
    private double _jobsPerSecond;
    private TimeSpan _sampledAt = started.Elapsed;

    /// <summary>A terminal that can redraw in place (not redirected, ANSI, interactive).</summary>
    public static bool CanRenderLive =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Ansi && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Takes this second's figures; returns the jobs newly seen finished.</summary>
    public async Task<IReadOnlyList<JobView>> UpdateAsync(CancellationToken cancellationToken)
    {
        var reports = hub.ReportsRecorded;
        _reportsPerSecond = reports - _reports;
        _reports = reports;
        _presence = hub.CountAgentsByPresence();
        try
        {
            var jobs = (await api.GetStatsAsync(cancellationToken)).Jobs;
            var now = started.Elapsed;
            var seconds = (now - _sampledAt).TotalSeconds;
            _jobsPerSecond = seconds > 0 ? (jobs.FinishedTotal - _jobs.FinishedTotal) / seconds : 0;
            (_jobs, _sampledAt) = (jobs, now);
        }
        catch (HubApiException)
        {
            // Shown again next second; the sender counts its own failures.
        }

        return await _watch.PollAsync(sender.Recent(), cancellationToken);
    }

    /// <summary>The live panel.</summary>
    public IRenderable Render()
    {
        var results = new Table { Border = TableBorder.Rounded, Title = new TableTitle("latest results") }
            .AddColumns("job", "agent", "outcome", "exit", "stdout (first line)");
        foreach (var job in _watch.Latest)
        {
            results.AddRow(
                Markup.Escape(job.Id),
                Markup.Escape(job.Agent ?? "-"),
                Outcome(job),
                Exit(job),
                Markup.Escape(DemoJobWatch.FirstLine(job)));
        }

        if (_watch.Latest.Count == 0)
        {
            results.AddRow("[grey]none yet[/]", string.Empty, string.Empty, string.Empty, string.Empty);
        }

        return new Rows(new Markup(FleetLine()), new Markup(JobsLine()), results);
    }

    /// <summary>The redirected form, plain text (no wrapping at the console width): this second's fleet line and
    /// jobs line, then one line per newly finished job.</summary>
    public void WriteLines(IReadOnlyList<JobView> finished)
    {
        Console.Out.WriteLine(Markup.Remove(FleetLine()));
        Console.Out.WriteLine("      " + Markup.Remove(JobsLine()));
        foreach (var job in finished.TakeLast(DemoJobWatch.Keep))
        {
            Console.Out.WriteLine($"      result {job.Id}  {job.Agent ?? "-"}  {Markup.Remove(Outcome(job))}  exit {Exit(job)}  {DemoJobWatch.FirstLine(job)}");
        }
    }

    /// <summary>done or dead, with the outcome when it is not "completed" (timed-out, lost...).</summary>
    private static string Outcome(JobView job)
    {
        var color = job.State == "done" ? "green" : "red";
        var outcome = job.Outcome is null or "completed" ? string.Empty : " " + job.Outcome;
        return $"[{color}]{Markup.Escape(job.State + outcome)}[/]";
    }

    private static string Exit(JobView job) => job.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private string FleetLine() =>
        $"[grey]{started.Elapsed:mm\\:ss}[/] online [green]{_presence[Presence.Online],6:N0}[/] late [yellow]{_presence[Presence.Late],4:N0}[/] "
        + $"lost [red]{_presence[Presence.Lost],4:N0}[/]  reports/s [blue]{_reportsPerSecond,6:N0}[/]  total {_reports,9:N0}";

    private string JobsLine()
    {
        var refused = sender.Refused > 0 ? $"  refused [yellow]{sender.Refused:N0}[/]" : string.Empty;
        return $"jobs sent {sender.Submitted,7:N0}  running {_jobs.Running,4:N0}  done [green]{_jobs.Done - _baseline.Done,7:N0}[/]  "
            + $"dead [red]{_jobs.Dead - _baseline.Dead,5:N0}[/]{refused}  jobs/s [blue]{_jobsPerSecond,6:N1}[/]";
    }
}
