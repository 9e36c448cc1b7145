using System.Net;
using System.Net.Sockets;
using Drover.Hub.Connections;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The accept loop survives failed accepts, and what the agent port logs about refused, failed and
/// misbehaving connections is a few lines a minute, not one per connection.</summary>
public sealed class ConnectionLogTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-06-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static ConnectionLimits Limits()
    {
        var limits = new ConnectionLimits();
        limits.SetCaps(100, 10);
        return limits;
    }

    [Fact]
    public void The_first_event_of_a_key_is_logged_at_once_the_rest_once_a_minute_and_a_quiet_key_is_forgotten()
    {
        var time = new FakeTimeProvider(Start);
        var throttle = new LogThrottle<string>(time, maxKeys: 2, overflowKey: "other");
        Assert.True(throttle.Add("a"));
        Assert.False(throttle.Add("a", "second"));
        Assert.False(throttle.Add("a", "third"));
        Assert.True(throttle.Add("b"));
        Assert.True(throttle.Add("c"), "beyond two keys a new key counts as the overflow key, logged at its first event");
        Assert.False(throttle.Add("d"));
        Assert.Equal(3, throttle.Count);
        Assert.Empty(throttle.Drain());

        time.Advance(TimeSpan.FromSeconds(61));
        var due = throttle.Drain().OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(2, due.Count);
        Assert.Equal(("a", 2L, "third"), (due[0].Key, due[0].Count, due[0].Detail));
        Assert.Equal(("other", 1L), (due[1].Key, due[1].Count));
        Assert.Equal(2, throttle.Count); // "b" had nothing more to report: forgotten

        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Empty(throttle.Drain());
        Assert.Equal(0, throttle.Count);
        Assert.True(throttle.Add("a"), "after a quiet minute the next event is logged at once again");
    }

    [Fact]
    public void Ten_thousand_handshake_timeouts_from_one_address_are_two_lines_and_other_addresses_get_their_own()
    {
        var time = new FakeTimeProvider(Start);
        var logger = new ListLogger();
        var log = new ConnectionLog(Limits(), time, logger);
        for (var i = 0; i < 10_000; i++)
        {
            log.BadPeer(DisconnectReason.HandshakeTimeout, $"10.0.0.1:{1024 + (i % 50_000)}", "no hello within 2 s");
        }

        log.BadPeer(DisconnectReason.HandshakeTimeout, "[2001:db8::7]:4000", "no hello within 2 s");
        log.BadPeer(DisconnectReason.ProtocolViolation, "10.0.0.1:999", "the first message must be hello");
        log.Flush();
        Assert.Equal(3, logger.Lines.Count);
        Assert.All(logger.Lines, l => Assert.Equal(202, l.Id));

        time.Advance(TimeSpan.FromSeconds(60));
        log.Flush();
        var summary = Assert.Single(logger.Lines.Skip(3));
        Assert.Equal(208, summary.Id);
        Assert.Contains("Closed 9999 more connections from 10.0.0.1 in the last 60 s: HandshakeTimeout", summary.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Refused_connections_and_failed_accepts_are_logged_once_a_minute_with_their_counts()
    {
        var time = new FakeTimeProvider(Start);
        var logger = new ListLogger();
        var limits = Limits();
        var log = new ConnectionLog(limits, time, logger);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        for (var i = 0; i < 500; i++)
        {
            log.Refused(ConnectionRefusal.PendingCap, socket);
            log.Refused(ConnectionRefusal.ConnectionCap, socket);
            log.AcceptFailed(new SocketException((int)SocketError.TooManyOpenSockets), AgentAcceptLoop.PauseAfterError);
        }

        Assert.Equal("206 206 104", string.Join(' ', logger.Lines.Select(l => l.Id)));
        time.Advance(TimeSpan.FromMinutes(1));
        log.Flush();
        Assert.Equal("104 106 206 206 207 207", string.Join(' ', logger.Lines.Select(l => l.Id).Order()));
        Assert.Contains(logger.Lines, l => l.Text.Contains("Reset 499 more new connections in the last 60 s: too many connections have not finished", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Text.Contains("failed 499 more times in the last 60 s: TooManyOpenSockets", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_accept_loop_survives_failed_accepts_pausing_on_the_hub_clock_and_serves_the_next_connection()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await HubFixture.StartAsync(o => o with { TimeProvider = time, SweepInterval = TimeSpan.FromSeconds(1), FlushInterval = TimeSpan.FromSeconds(1) });
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);

        var failures = new Queue<Exception>(
        [
            new SocketException((int)SocketError.TooManyOpenSockets),
            new SocketException((int)SocketError.NoBufferSpaceAvailable),
            new SocketException((int)SocketError.TooManyOpenSockets),
            new InvalidOperationException("a surprise inside accept"),
        ]);
        var calls = 0;
        async ValueTask<Socket> AcceptAsync(Socket ignored, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            if (failures.TryDequeue(out var failure))
            {
                throw failure;
            }

            return await listener.AcceptAsync(cancellationToken);
        }

        using var stop = new CancellationTokenSource();
        using var loop = new AgentAcceptLoop(fixture.Hub.Sessions, time, AcceptAsync);
        var running = Task.Run(() => loop.RunAsync(stop.Token));
        await HubFixture.WaitUntilAsync(() => Volatile.Read(ref calls) == 1, because: "the first accept failed");
        for (var expected = 2; expected <= 5; expected++)
        {
            // Each failure pauses the loop 100 ms on the hub's clock, not on the wall clock.
            await Task.Delay(50);
            Assert.Equal(expected - 1, Volatile.Read(ref calls));
            time.Advance(AgentAcceptLoop.PauseAfterError);
            await HubFixture.WaitUntilAsync(() => Volatile.Read(ref calls) == expected, because: $"accept call {expected} after the pause");
        }

        Assert.False(running.IsCompleted);
        Assert.Equal(4, fixture.Hub.Sessions.Limits.AcceptErrors);
        await using (var agent = await RawProtocolClient.ConnectAsync((IPEndPoint)listener.LocalEndPoint!))
        {
            Assert.IsType<Welcome>(await agent.HandshakeAsync(RawProtocolClient.MakeHello("after-errors")));
        }

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Keeps every line with its event id.</summary>
    private sealed class ListLogger : ILogger
    {
        private readonly List<(int Id, string Text)> _lines = [];

        public IReadOnlyList<(int Id, string Text)> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines)
            {
                _lines.Add((eventId.Id, formatter(state, exception)));
            }
        }
    }
}
