using Drover.Hub.Fleet;
using Drover.Protocol;
using Drover.Storage;

namespace Drover.Hub.Connections;

internal sealed partial class AgentSessions
{
    private const int MaxLabels = 64;
    private static readonly TimeSpan RegistrationTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryAfterStoreFailure = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RetryAfterCapacity = TimeSpan.FromSeconds(30);

    /// <summary>Checks a hello, admits the agent at the bounded rate, binds it to the registry (a new
    /// session takes over an old one), makes a first registration durable, and answers welcome.</summary>
    public async Task HandleHelloAsync(AgentConnection connection, Hello hello)
    {
        _stats.RecordHello();
        if (connection.RefuseUntilTicks != 0)
        {
            RefuseOverRate(connection);
            return;
        }

        if (!TryNegotiateVersion(hello, out var version))
        {
            RefuseHello(connection, hello, ErrorCode.UnsupportedVersion, TimeSpan.Zero,
                $"the hub speaks protocol versions {ProtocolConstants.MinVersion}-{ProtocolConstants.MaxVersion}; the agent asked for {hello.MinVersion}-{hello.MaxVersion}");
            return;
        }

        if (!AgentIds.IsValid(hello.AgentId, out var idProblem))
        {
            RefuseHello(connection, hello, ErrorCode.InvalidAgentId, TimeSpan.Zero, idProblem);
            return;
        }

        if (hello.AgentKey.Length > 0 && !AgentIds.IsValidKey(hello.AgentKey, out var keyProblem))
        {
            RefuseHello(connection, hello, ErrorCode.AuthenticationFailed, TimeSpan.Zero, keyProblem);
            return;
        }

        // Before anything is attached: an impostor's hello for a bound id leaves the session of the id's agent untouched.
        if (await AdmitCredentialAsync(connection, hello).ConfigureAwait(false) is not { } admitted)
        {
            return;
        }

        hello = admitted;
        if (hello.Labels.Count > MaxLabels)
        {
            RefuseHello(connection, hello, ErrorCode.Malformed, TimeSpan.Zero, $"{hello.Labels.Count} labels; the limit is {MaxLabels}");
            return;
        }

        var isKnown = _registry.TryGet(hello.AgentId, out var known);
        if (!Flapping.TryConnect(hello.AgentId, isKnown ? Volatile.Read(ref known.AttachedTicks) : 0, out var banned, out var offence))
        {
            RefuseFlapping(connection, hello, banned, offence);
            return;
        }

        var alreadyConnected = isKnown && known.Session is not null;
        var capacity = Options.MaxAgents > 0 ? Options.MaxAgents : Capacity;
        if (capacity > 0 && !alreadyConnected && _registry.Connected >= capacity)
        {
            RefuseHello(connection, hello, ErrorCode.CapacityReached, RetryAfterCapacity, $"this hub holds its limit of {capacity} agents");
            return;
        }

        if (!_admission.TryAdmit(hello.AgentId, out var retryAfter))
        {
            RefuseHello(connection, hello, ErrorCode.Overloaded, retryAfter,
                $"the hub admits {Options.AdmitPerSecond} agents per second; your turn comes in {(long)retryAfter.TotalMilliseconds} ms");
            return;
        }

        var replaced = _registry.Attach(connection, hello, connection.RemoteAddress, out var entry, out var epoch, out var isNew);
        LeaveHandshake(connection);
        connection.Established(entry, epoch, hello.JobSlots);
        if (replaced is not null)
        {
            var oldSource = replaced.RemoteAddress;
            replaced.Close(DisconnectReason.Replaced, ErrorCode.SessionReplaced, $"a newer session for agent {hello.AgentId} connected from {connection.RemoteAddress}");
            if (Takeovers.OnTakeover(hello.AgentId, oldSource, connection.RemoteAddress))
            {
                _registry.Events.Add(hello.AgentId, AgentEventKinds.IdFlap, null, $"sessions from {oldSource} and {connection.RemoteAddress} keep taking this id over from each other (two agents share it)");
            }
        }

        if (isNew)
        {
            // The registration is hard state: commit it (grouped with others) before the welcome.
            try
            {
                await _writer.WaitDurableAsync().WaitAsync(RegistrationTimeout, Time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.Refused(Logger, connection.RemoteAddress, LogText.Escape(hello.AgentId), ErrorCode.InternalError, "the store did not commit the registration in time");
                connection.Close(DisconnectReason.InternalError, ErrorCode.InternalError, "the hub could not store the registration; retry later");
                return;
            }
        }

        if (Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            Log.AgentConnected(Logger, LogText.Escape(hello.AgentId), connection.RemoteAddress, epoch, isNew);
        }

        var interval = _schedule.IntervalMs;
        connection.SendWelcome(new Welcome(
            version,
            epoch,
            interval,
            ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, interval),
            Time.GetUtcNow().ToUnixTimeMilliseconds(),
            (uint)connection.MaxReadFrameSize,
            (ushort)Options.MaxStatusFields,
            Options.HubId));

        // A reschedule broadcast while this session waited for its welcome skipped it (LivenessSweep.BroadcastSchedule):
        // if the interval moved after the welcome read it, tell the agent now.
        var current = _schedule.IntervalMs;
        if (current != interval)
        {
            connection.Send(new Reschedule(current, ReportSchedule.SlotOffsetMs(entry.SlotOrdinal, current)));
        }

        if (hello.AgentKey.Length > 0)
        {
            SessionKeys.SendExpiry(AgentKeys, connection, hello.AgentId);
        }

        // After the welcome, so that a job frame never precedes it.
        Jobs.OnAgentConnected(entry, connection);
    }

    /// <summary>Validates a report without decoding it, records its bytes and acknowledges it.</summary>
    public void OnStatus(AgentConnection connection, ReadOnlySpan<byte> payload)
    {
        var sequence = Protocol.Status.Validate(payload, Options.MaxStatusFields);
        var entry = connection.Entry!;
        if (_registry.RecordStatus(entry, connection.Epoch, payload, out var arrival))
        {
            _stats.RecordReport();
            Metrics.ReportReceived(arrival.NowTicks, arrival.PreviousTicks, arrival.AttachedTicks, entry.SlotOrdinal);
            connection.SendAck(sequence);
        }
    }

    private static bool TryNegotiateVersion(Hello hello, out ushort version)
    {
        version = Math.Min(hello.MaxVersion, ProtocolConstants.MaxVersion);
        return hello.MinVersion <= hello.MaxVersion && version >= hello.MinVersion && version >= ProtocolConstants.MinVersion;
    }

    /// <summary>Refuses the hello of a connection that came over its source's rate, with a retry-after that points at the moment the accept loop gave it (logged there, once a minute per source).</summary>
    private void RefuseOverRate(AgentConnection connection)
    {
        var retryAfter = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, connection.RefuseUntilTicks - Time.GetUtcNow().UtcTicks));
        connection.Refuse(ErrorCode.RateLimited, retryAfter,
            $"too many connections from this address (at most {Sources.Rate} a second, {Sources.Burst} at once); retry after {(long)retryAfter.TotalMilliseconds} ms");
    }

    /// <summary>Refuses a hello whose agent id is banned for flapping (<see cref="ReconnectFlapping"/>); <paramref name="offence"/>
    /// is non-zero when this hello started the ban.</summary>
    private void RefuseFlapping(AgentConnection connection, Hello hello, TimeSpan retryAfter, int offence)
    {
        var ms = (long)retryAfter.TotalMilliseconds;
        var window = Options.FlapWindow.TotalSeconds;
        var detail = offence > 0
            ? $"more than {Options.FlapMaxReconnects} sessions within {window:0.#} s, refused for {ms} ms (ban {offence} of this id; the last from {connection.RemoteAddress})"
            : $"refused for {ms} ms more (from {connection.RemoteAddress})";
        ConnectionLog.Flapping(LogText.Escape(hello.AgentId), offence > 0, detail);
        connection.Refuse(ErrorCode.RateLimited, retryAfter,
            $"agent id {hello.AgentId} started more than {Options.FlapMaxReconnects} sessions within {window:0.#} s; retry after {ms} ms");
    }

    private void RefuseHello(AgentConnection connection, Hello hello, ErrorCode code, TimeSpan retryAfter, string detail)
    {
        if (code == ErrorCode.Overloaded)
        {
            // Refusals during a reconnect storm are expected: log one line per hundred, not one per agent.
            if (_admission.Waiting % 100 == 1)
            {
                Log.AdmissionBusy(Logger, _admission.Waiting, (long)retryAfter.TotalMilliseconds);
            }
        }
        else
        {
            Log.Refused(Logger, connection.RemoteAddress, LogText.Escape(hello.AgentId), code, LogText.Escape(detail, LogText.LongTextMaxLength));
        }

        connection.Refuse(code, retryAfter, detail);
    }
}
