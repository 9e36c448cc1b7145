using System.Diagnostics;
using Drover.Cli.Jobs;
using Drover.Protocol;

namespace Drover.Cli.Demo;

/// <summary>The demo's sender: submits generated sample files through the hub's HTTP API
/// (<c>POST /api/jobs</c>, one file per request, target random) at a steady rate, at most
/// <see cref="MaxInFlight"/> requests at a time. A refusal (503, queue full) or another error pauses it for a second.</summary>
internal sealed class DemoJobSender : IDisposable
{
    /// <summary>Requests on the way at once; when the hub is slower than the rate, the rate gives way.</summary>
    public const int MaxInFlight = 32;

    /// <summary>How many of the latest submitted job ids are kept for <see cref="Recent"/>: over 0.4 s at the highest rate.</summary>
    public const int RecentCount = 4096;

    /// <summary>What every demo job carries: placed at random, one retry, 30 s to run.</summary>
    public static readonly JobSubmitOptions JobOptions = new() { Target = JobTarget.Random, Retries = 1, Timeout = TimeSpan.FromSeconds(30) };

    private static readonly TimeSpan Pause = TimeSpan.FromSeconds(1);

    private readonly HubApiClient _api;
    private readonly double _perSecond;
    private readonly Random _random = new(2026);
    private readonly SemaphoreSlim _inFlight = new(MaxInFlight, MaxInFlight);
    private readonly Lock _lock = new();
    private readonly Queue<(string Id, long At)> _recent = new(RecentCount + 1);
    private readonly Stopwatch _clock = new();
    private long _pausedUntilMs;
    private long _submitted;
    private long _refused;
    private long _failed;
    private string? _lastError;

    public DemoJobSender(HubApiClient api, double perSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(perSecond);
        _api = api;
        _perSecond = perSecond;
    }

    public void Dispose() => _inFlight.Dispose();

    /// <summary>Jobs the hub accepted (answered 201: committed to its store).</summary>
    public long Submitted => Interlocked.Read(ref _submitted);

    /// <summary>Requests the hub refused with 503 (its queue was full).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Requests that failed otherwise (see <see cref="LastError"/>).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>The latest submitted job ids, oldest first, each with its <see cref="Stopwatch.GetTimestamp"/> at submission.</summary>
    public IReadOnlyList<(string Id, long At)> Recent()
    {
        lock (_lock)
        {
            return [.. _recent];
        }
    }

    /// <summary>Sends until <paramref name="stop"/> fires, then waits for the requests on the way (each 201 is
    /// a job the hub holds, so none is abandoned half-sent).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        if (_perSecond <= 0)
        {
            return;
        }

        var pending = new List<Task>();
        using var ticker = new PeriodicTimer(TimeSpan.FromSeconds(Math.Clamp(1 / _perSecond, 0.01, 0.1)));
        _clock.Start();
        long issued = 0;
        try
        {
            while (await ticker.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var due = (long)(_clock.Elapsed.TotalSeconds * _perSecond);
                if (_clock.ElapsedMilliseconds < Interlocked.Read(ref _pausedUntilMs))
                {
                    issued = due;
                    continue;
                }

                // Never catch up more than a burst: a slow hub lowers the rate rather than meeting a flood.
                issued = Math.Max(issued, due - MaxInFlight);
                while (issued < due)
                {
                    await _inFlight.WaitAsync(stop).ConfigureAwait(false);
                    issued++;
                    var (name, content) = SampleFiles.Create(_random, issued);
                    pending.Add(SubmitAsync(name, content));
                }

                pending.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private async Task SubmitAsync(string name, byte[] content)
    {
        try
        {
            var job = await _api.SubmitAsync(name, content, JobOptions, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Increment(ref _submitted);
            lock (_lock)
            {
                _recent.Enqueue((job.Id, Stopwatch.GetTimestamp()));
                if (_recent.Count > RecentCount)
                {
                    _recent.Dequeue();
                }
            }
        }
        catch (HubApiException ex)
        {
            Interlocked.Increment(ref ex.StatusCode == 503 ? ref _refused : ref _failed);
            Volatile.Write(ref _lastError, ex.Message);
            Interlocked.Exchange(ref _pausedUntilMs, _clock.ElapsedMilliseconds + (long)Pause.TotalMilliseconds);
        }
        finally
        {
            _inFlight.Release();
        }
    }
}
