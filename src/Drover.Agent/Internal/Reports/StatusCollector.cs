using System.Text;
using Drover.Agent.Internal.Session;
using Drover.Protocol;
using Microsoft.Extensions.Logging;

namespace Drover.Agent.Internal.Reports;

/// <summary>Status content: the application's state, progress and custom fields, the system metrics and the status
/// provider, gathered into one numbered sample and fitted to the hub's limits.</summary>
internal sealed class StatusCollector
{
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly HubLimits _limits;
    private readonly Func<int> _jobsInFlight;

    // _gate guards the fields below it: the application sets them, the report loop reads them.
    private readonly object _gate = new();
    private readonly List<KeyValuePair<string, FieldValue>> _customFields = [];
    private AgentState _agentState = AgentState.Idle;
    private byte _progress = ProtocolConstants.NoProgress;
    private bool _fieldsWarned;

    private string? _lastProviderError;
    private long _sequence;

    public StatusCollector(AgentOptions options, HubLimits limits, Func<int> jobsInFlight)
    {
        _options = options;
        _logger = AgentLogging.For<StatusCollector>(options);
        _limits = limits;
        _jobsInFlight = jobsInFlight;
    }

    private string AgentId => _options.AgentId;

    public ulong LastSequence => (ulong)Interlocked.Read(ref _sequence);

    public void SetState(AgentState state)
    {
        lock (_gate)
        {
            _agentState = state;
        }
    }

    public void SetProgress(byte? percent)
    {
        if (percent is > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "progress is 0 to 100, or null for none");
        }

        lock (_gate)
        {
            _progress = percent ?? ProtocolConstants.NoProgress;
        }
    }

    public void SetField(string key, FieldValue value)
    {
        ValidateField(key, value);
        lock (_gate)
        {
            Merge(_customFields, key, value);
        }
    }

    public bool RemoveField(string key)
    {
        lock (_gate)
        {
            var index = _customFields.FindIndex(f => string.Equals(f.Key, key, StringComparison.Ordinal));
            if (index < 0)
            {
                return false;
            }

            _customFields.RemoveAt(index);
            return true;
        }
    }

    /// <summary>A new session: the warning about dropped fields may come once more.</summary>
    public void OnWelcome()
    {
        lock (_gate)
        {
            _fieldsWarned = false;
        }
    }

    internal static void ValidateField(string key, FieldValue value)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException("field key must not be empty", nameof(key));
        }

        if (Encoding.UTF8.GetByteCount(key) > ushort.MaxValue)
        {
            throw new ArgumentException("field key is longer than 65535 UTF-8 bytes", nameof(key));
        }

        if (value.Kind == FieldKind.String && Encoding.UTF8.GetByteCount(value.Text!) > ushort.MaxValue)
        {
            throw new ArgumentException("field value is longer than 65535 UTF-8 bytes", nameof(value));
        }
    }

    /// <summary>One status sample with the next sequence number: system metrics, custom fields, then the
    /// status provider's fields (later ones replace earlier ones of the same name).</summary>
    public async ValueTask<Status> TakeSampleAsync(CancellationToken cancellationToken)
    {
        var fields = new List<KeyValuePair<string, FieldValue>>(8);
        if (_options.IncludeSystemMetrics)
        {
            SystemMetrics.AppendTo(fields);
        }

        AgentState state;
        byte progress;
        var jobsInFlight = 0;
        if (_options.JobSlots > 0)
        {
            jobsInFlight = _jobsInFlight();
            fields.Add(new("jobs_in_flight", FieldValue.From((long)jobsInFlight)));
            fields.Add(new("job_slots", FieldValue.From((long)_options.JobSlots)));
        }

        lock (_gate)
        {
            foreach (var (key, value) in _customFields)
            {
                Merge(fields, key, value);
            }

            // Busy while a job runs, unless the application set a state of its own (Draining, Busy...).
            state = _agentState == AgentState.Idle && jobsInFlight > 0 ? AgentState.Busy : _agentState;
            progress = _progress;
        }

        if (_options.StatusProvider is { } provider)
        {
            try
            {
                var extra = await provider(cancellationToken).ConfigureAwait(false);
                foreach (var (key, value) in extra)
                {
                    ValidateField(key, value);
                    Merge(fields, key, value);
                }

                _lastProviderError = null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                if (!string.Equals(ex.Message, _lastProviderError, StringComparison.Ordinal))
                {
                    _lastProviderError = ex.Message;
                    Log.StatusProviderFailed(_logger, AgentId, ex.Message);
                }
            }
        }

        var sequence = (ulong)Interlocked.Increment(ref _sequence);
        return new Status(sequence, state, progress, fields);
    }

    /// <summary>Keeps a report within the welcome's field count and frame size by dropping the last fields
    /// (custom fields come after the system metrics); warns once per session.</summary>
    public Status FitToLimits(Status status)
    {
        var maxFields = _limits.MaxStatusFields;
        var maxFrame = _limits.MaxFrameSize;
        var fields = status.Fields;
        var count = Math.Min(fields.Count, maxFields);
        var fitted = count == fields.Count ? status : status with { Fields = fields.Take(count).ToArray() };
        while (fitted.PayloadSize > maxFrame && count > 0)
        {
            count--;
            fitted = status with { Fields = fields.Take(count).ToArray() };
        }

        if (count < fields.Count)
        {
            var warn = false;
            lock (_gate)
            {
                if (!_fieldsWarned)
                {
                    _fieldsWarned = true;
                    warn = true;
                }
            }

            if (warn)
            {
                Log.FieldsDropped(_logger, AgentId, fields.Count, count);
            }
        }

        return fitted;
    }

    private static void Merge(List<KeyValuePair<string, FieldValue>> fields, string key, FieldValue value)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (string.Equals(fields[i].Key, key, StringComparison.Ordinal))
            {
                fields[i] = new(key, value);
                return;
            }
        }

        fields.Add(new(key, value));
    }
}
