using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Drover.Bench.Internal;
using Drover.Protocol;

namespace Drover.Bench.Tests;

/// <summary>A simulated agent in job mode against a scripted hub on a loopback socket: what it advertises,
/// how it answers jobs (including one larger than its first receive buffer, and one that arrives before the
/// acks of earlier ones), how it checks hashes, and what the result acks mark done; and, in any mode, which hub frames
/// fail the run as protocol errors.</summary>
public sealed class SimAgentJobTests
{
    [Fact]
    public async Task Jobs_are_accepted_and_answered_at_once_and_their_acks_mark_them_done()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var fleet = new SimFleet((IPEndPoint)listener.LocalEndpoint, "t", closedLoop: false, naive: false, agents: 1, agentsPerSource: 100, jobSlots: 2);
        var tracker = new JobTracker("b-", 4);
        fleet.Jobs = tracker;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = fleet.Agents[0].RunAsync(stop.Token);

        using var socket = await listener.AcceptSocketAsync(stop.Token);
        var hub = new ScriptedHub(socket);
        var hello = Assert.IsType<Hello>(await hub.ReadAsync(stop.Token));
        Assert.Equal(2, hello.JobSlots);
        await hub.SendAsync(new Welcome(1, 1, 60_000, 0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 1 << 20, 64, "scripted"), stop.Token);
        Assert.IsType<Status>(await hub.ReadAsync(stop.Token)); // the first report, right after the welcome

        // Two jobs fill both slots; the second is 200 KiB, more than the 64 KiB receive buffer holds.
        await hub.SendAsync(JobFor("j-0", tracker.NameOf(0), new byte[4096]), stop.Token);
        await hub.SendAsync(JobFor("j-1", tracker.NameOf(1), Enumerable.Range(0, 200 * 1024).Select(i => (byte)(i * 7)).ToArray()), stop.Token);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal($"j-{i}", Assert.IsType<JobAccepted>(await hub.ReadAsync(stop.Token)).JobId);
            var result = Assert.IsType<JobResult>(await hub.ReadAsync(stop.Token));
            Assert.Equal((JobOutcome.Completed, 0, 1u), (result.Outcome, result.ExitCode, result.Attempt));
            Assert.Equal("ok\n"u8.ToArray(), result.StdoutTail.ToArray());
        }

        // A third before the acks of both: the hub may free a slot (commit a result) and send the next job before
        // that result's ack arrives. The handler is idle, as a real agent's would be: it takes the job, and counts it.
        await hub.SendAsync(JobFor("j-2", tracker.NameOf(2), new byte[10]), stop.Token);
        Assert.Equal("j-2", Assert.IsType<JobAccepted>(await hub.ReadAsync(stop.Token)).JobId);
        Assert.IsType<JobResult>(await hub.ReadAsync(stop.Token));
        Assert.Equal(1, fleet.Counters.JobsBeforeAck);
        Assert.Equal(3, fleet.Counters.MaxHeld);

        await hub.SendAsync(new JobResultAck("j-0", 1), stop.Token);
        await hub.SendAsync(new JobResultAck("j-1", 1), stop.Token);
        await hub.SendAsync(new JobResultAck("j-2", 1), stop.Token);
        await hub.SendAsync(new JobResultAck("j-1", 1), stop.Token); // a duplicate ack: unexpected, changes nothing

        // A corrupted file: refused with hash-mismatch, never marked done.
        var corrupt = JobFor("j-3", tracker.NameOf(3), new byte[100]);
        await hub.SendAsync(corrupt with { Content = new byte[100].Select(_ => (byte)1).ToArray() }, stop.Token);
        Assert.IsType<JobAccepted>(await hub.ReadAsync(stop.Token));
        Assert.Equal(JobOutcome.HashMismatch, Assert.IsType<JobResult>(await hub.ReadAsync(stop.Token)).Outcome);
        await hub.SendAsync(new JobResultAck("j-3", 1), stop.Token);
        await hub.SendAsync(new Ping(7), stop.Token);
        Assert.Equal(7UL, Assert.IsType<Pong>(await hub.ReadAsync(stop.Token)).Value); // after the acks above were handled

        Assert.Equal(3, tracker.AckedCount);
        Assert.Equal(3, tracker.EndToEnd.Count);
        Assert.Equal(4, tracker.Dispatch.Count);
        Assert.Equal(1, fleet.Counters.HashMismatches);
        Assert.Equal(1, fleet.Counters.UnexpectedAcks);
        Assert.Equal(0, fleet.Agents[0].JobsHeld);

        await stop.CancelAsync();
        fleet.Agents[0].Close();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Results_not_yet_acknowledged_are_sent_again_after_a_reconnect()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var fleet = new SimFleet((IPEndPoint)listener.LocalEndpoint, "t", closedLoop: false, naive: false, agents: 1, agentsPerSource: 100, jobSlots: 4);
        var tracker = new JobTracker("b-", 1);
        fleet.Jobs = tracker;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = fleet.Agents[0].RunAsync(stop.Token);
        var welcome = new Welcome(1, 1, 60_000, 0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 1 << 20, 64, "scripted");

        using (var first = await listener.AcceptSocketAsync(stop.Token))
        {
            var hub = new ScriptedHub(first);
            await hub.ReadAsync(stop.Token);
            await hub.SendAsync(welcome, stop.Token);
            await hub.ReadAsync(stop.Token);
            await hub.SendAsync(JobFor("j-0", tracker.NameOf(0), new byte[64]), stop.Token);
            Assert.IsType<JobAccepted>(await hub.ReadAsync(stop.Token));
            Assert.IsType<JobResult>(await hub.ReadAsync(stop.Token));
        }

        // The hub went away before it acked: the next session starts with that result again.
        using var second = await listener.AcceptSocketAsync(stop.Token);
        var again = new ScriptedHub(second);
        Assert.IsType<Hello>(await again.ReadAsync(stop.Token));
        await again.SendAsync(welcome with { SessionEpoch = 2 }, stop.Token);
        Assert.Equal("j-0", Assert.IsType<JobResult>(await again.ReadAsync(stop.Token)).JobId);
        await again.SendAsync(new JobResultAck("j-0", 1), stop.Token);
        Assert.IsType<Status>(await again.ReadAsync(stop.Token));
        await again.SendAsync(new Ping(1), stop.Token);
        Assert.IsType<Pong>(await again.ReadAsync(stop.Token));
        Assert.Equal(1, tracker.AckedCount);

        await stop.CancelAsync();
        fleet.Agents[0].Close();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_hub_frame_the_protocol_does_not_allow_fails_the_run_and_says_which()
    {
        // A reschedule in answer to a hello (the hub sent it before the welcome: a bug the bench used to swallow, the agent
        // just reconnecting) is reported as the hub's failure; the agent goes on reconnecting.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var fleet = new SimFleet((IPEndPoint)listener.LocalEndpoint, "t", closedLoop: false, naive: false, agents: 1, agentsPerSource: 100, jobSlots: 0);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = fleet.Agents[0].RunAsync(stop.Token);

        using (var socket = await listener.AcceptSocketAsync(stop.Token))
        {
            var hub = new ScriptedHub(socket);
            Assert.IsType<Hello>(await hub.ReadAsync(stop.Token));
            await hub.SendAsync(new Reschedule(20_000, 0), stop.Token);
        }

        // It reconnects; a hub that closes before answering is not breaking the protocol (a hub killed, a connection over
        // its caps), so this close adds no failure.
        using (var again = await listener.AcceptSocketAsync(stop.Token))
        {
            Assert.IsType<Hello>(await new ScriptedHub(again).ReadAsync(stop.Token));
        }

        using (var third = await listener.AcceptSocketAsync(stop.Token))
        {
            Assert.IsType<Hello>(await new ScriptedHub(third).ReadAsync(stop.Token));
        }

        var failure = Assert.Single(fleet.Failures);
        Assert.Contains("the hub broke the protocol (UnexpectedMessage)", failure, StringComparison.Ordinal);
        Assert.Contains("expected welcome, got Reschedule", failure, StringComparison.Ordinal);

        await stop.CancelAsync();
        fleet.Agents[0].Close();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static Job JobFor(string id, string name, byte[] content) =>
        new(id, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000, 60_000, name, SHA256.HashData(content), string.Empty, content);

    /// <summary>The hub's side of one connection: whole frames in and out.</summary>
    private sealed class ScriptedHub(Socket socket)
    {
        private readonly byte[] _buffer = new byte[1 << 20];
        private int _filled;

        public async Task SendAsync(Message message, CancellationToken cancellationToken) =>
            await socket.SendAsync(FrameCodec.ToArray(message), SocketFlags.None, cancellationToken);

        public async Task<Message> ReadAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                if (FrameCodec.TryReadFrame(_buffer.AsSpan(0, _filled), ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload, out var consumed))
                {
                    var message = FrameCodec.Decode(type, payload);
                    _buffer.AsSpan(consumed, _filled - consumed).CopyTo(_buffer);
                    _filled -= consumed;
                    return message;
                }

                var read = await socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, cancellationToken);
                Assert.True(read > 0, "the simulated agent closed the connection");
                _filled += read;
            }
        }
    }
}
