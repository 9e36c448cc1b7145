using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Drover.Bench.Internal;

/// <summary>Submits every job of a <see cref="JobTracker"/> through <c>POST /api/jobs</c>: <see cref="BenchOptions.Batch"/>
/// files per request (multipart/form-data, or a raw body when 1), from <see cref="BenchOptions.Submitters"/>
/// concurrent loops that take batches in order from one counter, either as fast as the hub answers or paced at
/// <see cref="BenchOptions.Rate"/> jobs per second (open loop: batch b is due at start + b·batch/rate, whenever the
/// earlier ones were answered; its jobs' latency counts from that due time). A 503 is retried after its
/// Retry-After (at most <see cref="MaxRetryAfter"/> each, for at most <see cref="RetryBudget"/> per batch);
/// any other answer fails the batch.</summary>
internal sealed class JobSubmitter
{
    /// <summary>The longest Retry-After honoured as given; longer ones are shortened to this.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>How long one batch keeps being retried after 503s before it is given up.</summary>
    public static readonly TimeSpan RetryBudget = TimeSpan.FromSeconds(120);

    private readonly HttpClient _http;
    private readonly Uri _jobs;
    private readonly JobTracker _tracker;
    private readonly int _fileSize;
    private readonly int _batch;
    private readonly double? _rate;
    private readonly int _submitters;
    private readonly Action<string> _fail;
    private readonly byte[] _template;
    private readonly int? _distinctFiles;
    private int _nextBatch;
    private long _requests;
    private long _retries;

    public JobSubmitter(HttpClient http, Uri api, JobTracker tracker, BenchOptions options, Action<string> fail)
    {
        _http = http;
        _jobs = new Uri(api, "api/jobs");
        _tracker = tracker;
        _fileSize = options.FileSize;
        _batch = options.Batch;
        _rate = options.Rate;
        _submitters = options.Submitters;
        _fail = fail;
        _distinctFiles = options.DistinctFiles;
        _template = new byte[_fileSize];
        new Random(4242).NextBytes(_template);

        // A random mark of this run in bytes 8-15: a warm-up round's files and the measured run's differ, so that no run
        // finds its files already stored by an earlier one (the store shares a file it already holds).
        Span<byte> run = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(run, Random.Shared.NextInt64());
        run[..Math.Clamp(_fileSize - 8, 0, 8)].CopyTo(_template.AsSpan(Math.Min(8, _fileSize)));
    }

    /// <summary>Requests answered (any status).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests answered 503 and sent again.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Fills <paramref name="destination"/> with job <paramref name="index"/>'s file: the run's random template
    /// with the file's number in its first bytes (the index, or the index mod <see cref="BenchOptions.DistinctFiles"/>),
    /// so that files of different numbers differ in content and hash.</summary>
    public void FillFile(int index, Span<byte> destination)
    {
        _template.CopyTo(destination);
        Span<byte> stamp = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(stamp, _distinctFiles is { } distinct ? index % distinct : index);
        stamp[..Math.Min(8, destination.Length)].CopyTo(destination);
    }

    /// <summary>Builds the multipart body of jobs <paramref name="first"/> .. first + count − 1.</summary>
    public void BuildBatch(MultipartBody body, int first, int count)
    {
        body.Reset();
        for (var i = first; i < first + count; i++)
        {
            FillFile(i, body.AddFile(_tracker.NameOf(i), _fileSize));
        }

        body.Complete();
    }

    /// <summary>Submits every job once; returns when each batch was accepted, failed, or <paramref name="cancellationToken"/> fired.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var loops = new Task[_submitters];
        for (var i = 0; i < loops.Length; i++)
        {
            var submitter = i;
            loops[i] = Task.Run(() => LoopAsync(start, submitter, cancellationToken), CancellationToken.None);
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    private async Task LoopAsync(long start, int submitter, CancellationToken cancellationToken)
    {
        var body = _batch > 1 ? new MultipartBody(string.Create(CultureInfo.InvariantCulture, $"drover-bench-{submitter}-{Guid.NewGuid():N}"), (_fileSize + 200) * _batch + 64) : null;
        var single = _batch == 1 ? new byte[_fileSize] : null;
        var batches = (_tracker.Count + _batch - 1) / _batch;
        try
        {
            // Bounded: each pass takes a new batch number; there are `batches` of them.
            while (!cancellationToken.IsCancellationRequested)
            {
                var batch = Interlocked.Increment(ref _nextBatch) - 1;
                if (batch >= batches)
                {
                    return;
                }

                var first = batch * _batch;
                var count = Math.Min(_batch, _tracker.Count - first);
                var startAt = Stopwatch.GetTimestamp();
                if (_rate is { } rate)
                {
                    var due = start + (long)(first / rate * Stopwatch.Frequency);
                    if (due > startAt)
                    {
                        await Task.Delay(Stopwatch.GetElapsedTime(startAt, due), cancellationToken).ConfigureAwait(false);
                    }

                    startAt = due;
                }

                if (body is not null)
                {
                    BuildBatch(body, first, count);
                }
                else
                {
                    FillFile(first, single);
                }

                _tracker.Submitting(first, count, startAt);
                await SendAsync(first, count, body, single, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(int first, int count, MultipartBody? body, byte[]? single, CancellationToken cancellationToken)
    {
        var uri = body is null ? new Uri(_jobs, "?name=" + _tracker.NameOf(first)) : _jobs;
        var retrying = Stopwatch.StartNew();
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, uri);
            var content = body is null ? new ByteArrayContent(single!) : new ByteArrayContent(body.Buffer, 0, body.Length);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(body is null ? "application/octet-stream" : body.ContentType);
            request.Content = content;
            var sentAt = Stopwatch.GetTimestamp();
            HttpStatusCode status;
            byte[] answer;
            TimeSpan? retryAfter;
            try
            {
                using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                status = response.StatusCode;
                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The hub may or may not have committed these: they stay "not accepted", and the failure says so.
                _fail($"POST /api/jobs for {_tracker.NameOf(first)} (+{count - 1}) failed: {ex.Message}");
                return;
            }

            var answeredAt = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _requests);
            _tracker.Request.Record(Stopwatch.GetElapsedTime(sentAt, answeredAt));
            if (status == HttpStatusCode.Created)
            {
                CheckAnswer(answer, first, count);
                _tracker.MarkAccepted(first, count, answeredAt);
                return;
            }

            if (status == HttpStatusCode.ServiceUnavailable && retrying.Elapsed < RetryBudget)
            {
                Interlocked.Increment(ref _retries);
                var wait = retryAfter is { } after ? TimeSpan.FromTicks(Math.Clamp(after.Ticks, TimeSpan.TicksPerMillisecond * 10, MaxRetryAfter.Ticks)) : TimeSpan.FromMilliseconds(100);
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                continue;
            }

            _tracker.MarkRefused(first, count);
            _fail($"POST /api/jobs for {_tracker.NameOf(first)} (+{count - 1}) answered {(int)status}: {Truncate(System.Text.Encoding.UTF8.GetString(answer))}");
            return;
        }
    }

    /// <summary>The 201 must list the request's files, in order.</summary>
    private void CheckAnswer(byte[] answer, int first, int count)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            var jobs = document.RootElement.GetProperty("jobs");
            var listed = jobs.GetArrayLength();
            var i = 0;
            foreach (var job in jobs.EnumerateArray())
            {
                if (i < count && job.TryGetProperty("name", out var name) && name.GetString() != _tracker.NameOf(first + i))
                {
                    _fail($"POST /api/jobs listed '{name.GetString()}' where '{_tracker.NameOf(first + i)}' was sent");
                    return;
                }

                i++;
            }

            if (listed != count)
            {
                _fail($"POST /api/jobs listed {listed} jobs for a request of {count}");
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            _fail($"POST /api/jobs answered 201 with a body that is not {{\"jobs\":[…]}}: {ex.Message}");
        }
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
