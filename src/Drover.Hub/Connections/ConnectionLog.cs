using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Connections;

/// <summary>What the agent port logs about connections that are refused, fail or misbehave, so that a flood of them
/// costs a few lines, not one per connection: connections reset at a cap (per reason), accept failures (per error),
/// and connections closed for a handshake timeout, a failed TLS handshake, a protocol violation or a slow consumer (per reason and source
/// address). Each first occurrence is logged at once; the rest are counted and logged once a minute
/// (<see cref="LogThrottle{TKey}"/>) by <see cref="Flush"/>, which the one-second sweep calls.</summary>
internal sealed class ConnectionLog
{
    /// <summary>Source addresses tracked per reason; beyond it, all others count as one.</summary>
    private const int MaxSources = 1_000;

    private const string OtherSources = "other addresses";

    private readonly ConnectionLimits _limits;
    private readonly ILogger _logger;
    private readonly LogThrottle<ConnectionRefusal> _refused;
    private readonly LogThrottle<string> _acceptErrors;
    private readonly Dictionary<DisconnectReason, LogThrottle<string>> _badPeers;
    private readonly LogThrottle<SourceKey> _overRate;
    private readonly LogThrottle<SourceKey> _authRefused;
    private readonly LogThrottle<string> _flapping;

    public ConnectionLog(ConnectionLimits limits, TimeProvider time, ILogger logger)
    {
        _limits = limits;
        _logger = logger;
        _refused = new LogThrottle<ConnectionRefusal>(time, 4, ConnectionRefusal.None);
        _acceptErrors = new LogThrottle<string>(time, 16, "other errors");
        _badPeers = new Dictionary<DisconnectReason, LogThrottle<string>>
        {
            [DisconnectReason.HandshakeTimeout] = new(time, MaxSources, OtherSources),
            [DisconnectReason.ProtocolViolation] = new(time, MaxSources, OtherSources),
            [DisconnectReason.SlowConsumer] = new(time, MaxSources, OtherSources),
            [DisconnectReason.TlsFailed] = new(time, MaxSources, OtherSources),
        };
        _overRate = new LogThrottle<SourceKey>(time, MaxSources, default);
        _authRefused = new LogThrottle<SourceKey>(time, MaxSources, default);
        _flapping = new LogThrottle<string>(time, MaxSources, "other agent ids");
    }

    /// <summary>A connection reset at accept because of <paramref name="refusal"/>.</summary>
    public void Refused(ConnectionRefusal refusal, Socket socket)
    {
        if (_refused.Add(refusal))
        {
            var address = RemoteAddressOf(socket);
            Log.ConnectionRefused(_logger, address, Describe(refusal), _limits.Open, _limits.MaxConnections, _limits.Pending, _limits.MaxPendingHandshakes);
        }
    }

    /// <summary>An accept call failed; the loop pauses <paramref name="pause"/> and goes on.</summary>
    public void AcceptFailed(Exception error, TimeSpan pause)
    {
        var key = error is SocketException socketError ? $"{socketError.SocketErrorCode} ({socketError.Message})" : error.GetType().Name;
        if (_acceptErrors.Add(key, error.Message))
        {
            // A socket error says all there is; anything else is a surprise whose stack trace helps.
            Log.AcceptFailed(_logger, key, (long)pause.TotalMilliseconds, error is SocketException ? null : error);
        }
    }

    /// <summary>A connection the hub closed for <paramref name="reason"/> (a handshake timeout, a protocol violation,
    /// a slow consumer), from <paramref name="remoteAddress"/> (address and port).</summary>
    public void BadPeer(DisconnectReason reason, string remoteAddress, string detail)
    {
        if (!_badPeers.TryGetValue(reason, out var throttle))
        {
            Log.BadPeer(_logger, remoteAddress, reason, detail);
            return;
        }

        if (throttle.Add(SourceOf(remoteAddress), detail))
        {
            Log.BadPeer(_logger, remoteAddress, reason, detail);
        }
    }

    /// <summary>A connection from <paramref name="source"/> over its rate (<see cref="SourceLimits"/>): refused at its hello
    /// or reset at accept, as <paramref name="action"/> says. One line per source a minute.</summary>
    public void OverSourceRate(SourceKey source, int rate, int burst, string action)
    {
        if (_overRate.Add(source, action))
        {
            Log.OverSourceRate(_logger, source.ToString(), rate, burst, action);
        }
    }

    /// <summary>A hello from <paramref name="remoteAddress"/> refused with a wrong token, or because its source is blocked
    /// for earlier ones. One line per source a minute.</summary>
    public void AuthRefused(SourceKey source, string remoteAddress, string agentId, Protocol.ErrorCode code, string detail)
    {
        if (_authRefused.Add(source, $"{code} from {remoteAddress}: {detail}"))
        {
            Log.AuthRefused(_logger, remoteAddress, agentId, code, detail);
        }
    }

    /// <summary>A hello of <paramref name="agentId"/> (escaped) refused for flapping: the one that started a ban is logged
    /// (a ban lasts minutes), the ones refused during it are counted and logged once a minute per id.</summary>
    public void Flapping(string agentId, bool banStarted, string detail)
    {
        if (banStarted)
        {
            Log.ReconnectFlapping(_logger, agentId, detail);
        }
        else
        {
            _flapping.Add(agentId, detail);
        }
    }

    /// <summary>Logs what was counted and not yet logged, for every key whose minute is over.</summary>
    public void Flush()
    {
        foreach (var summary in _overRate.Drain())
        {
            Log.OverSourceRateRepeatedly(_logger, summary.Count, NameOf(summary.Key), summary.Over.TotalSeconds, summary.Detail);
        }

        foreach (var summary in _authRefused.Drain())
        {
            Log.AuthRefusedRepeatedly(_logger, summary.Count, NameOf(summary.Key), summary.Over.TotalSeconds, summary.Detail);
        }

        foreach (var summary in _flapping.Drain())
        {
            Log.ReconnectFlappingRepeatedly(_logger, summary.Count, summary.Key, summary.Over.TotalSeconds, summary.Detail);
        }

        foreach (var summary in _refused.Drain())
        {
            Log.ConnectionsRefused(_logger, summary.Count, summary.Over.TotalSeconds, Describe(summary.Key),
                _limits.Open, _limits.MaxConnections, _limits.Pending, _limits.MaxPendingHandshakes);
        }

        foreach (var summary in _acceptErrors.Drain())
        {
            Log.AcceptFailedRepeatedly(_logger, summary.Count, summary.Over.TotalSeconds, summary.Key);
        }

        foreach (var (reason, throttle) in _badPeers)
        {
            foreach (var summary in throttle.Drain())
            {
                Log.BadPeers(_logger, summary.Count, summary.Key, summary.Over.TotalSeconds, reason, summary.Detail);
            }
        }
    }

    private static string Describe(ConnectionRefusal refusal) => refusal switch
    {
        ConnectionRefusal.ConnectionCap => "all agent connections are in use (--max-connections)",
        ConnectionRefusal.PendingCap => "too many connections have not finished the handshake (--max-pending-handshakes)",
        _ => refusal.ToString(),
    };

    private static string RemoteAddressOf(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint?.ToString() ?? "unknown";
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return "unknown";
        }
    }

    /// <summary>A source's name in a log line; the throttle's overflow key (the default) counts all others together.</summary>
    private static string NameOf(SourceKey source) => source == default ? OtherSources : source.ToString();

    /// <summary>The address part of "address:port" (IPv4 or [IPv6]).</summary>
    private static string SourceOf(string remoteAddress) =>
        IPEndPoint.TryParse(remoteAddress, out var endPoint) ? endPoint.Address.ToString() : remoteAddress;
}
