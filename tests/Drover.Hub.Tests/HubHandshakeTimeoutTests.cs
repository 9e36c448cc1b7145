using System.Buffers.Binary;
using Drover.Protocol;
using Drover.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Hub.Tests;

/// <summary>The handshake timeout with a <see cref="FakeTimeProvider"/>: the hub's sweep closes a connection
/// that sent no hello when the test moves the clock past the timeout, over real sockets.</summary>
public sealed class HubHandshakeTimeoutTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-06-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static Task<HubFixture> StartAsync(FakeTimeProvider time) =>
        HubFixture.StartAsync(o => o with
        {
            TimeProvider = time,
            Token = "s3cret",
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            SweepInterval = TimeSpan.FromSeconds(1),
            FlushInterval = TimeSpan.FromSeconds(1),
        });

    /// <summary>Waits until the hub holds the connection (its accept time is read from the fake clock), then
    /// moves the clock past the handshake timeout in one-second steps.</summary>
    private static async Task PassHandshakeTimeoutAsync(HubFixture fixture, FakeTimeProvider time)
    {
        await HubFixture.WaitUntilAsync(() => fixture.Hub.PendingConnections == 1, because: "the hub holds the connection without a hello");
        for (var i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(15);
        }
    }

    [Fact]
    public async Task A_length_prefix_that_lies_then_silence_ends_in_a_timeout_not_a_hang_of_the_hub()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await using var liar = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        var header = new byte[5 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1000);
        header[4] = (byte)MessageType.Hello;
        await liar.SendRawAsync(header);
        await PassHandshakeTimeoutAsync(fixture, time);
        var bye = await liar.ReceiveAsync<Bye>(TimeSpan.FromSeconds(10));
        Assert.Equal(ErrorCode.HandshakeTimeout, bye.Code);

        await using var good = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await good.HandshakeAsync(RawProtocolClient.MakeHello("after-liar", "s3cret")));
        await good.SendAsync(RawProtocolClient.MakeStatus(1));
        await good.ReceiveAsync<StatusAck>();
    }

    [Fact]
    public async Task A_connection_that_sends_nothing_is_closed_at_the_handshake_timeout()
    {
        var time = new FakeTimeProvider(Start);
        await using var fixture = await StartAsync(time);
        await using var silent = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        await PassHandshakeTimeoutAsync(fixture, time);
        var bye = await silent.ReceiveAsync<Bye>(TimeSpan.FromSeconds(10));
        Assert.Equal(ErrorCode.HandshakeTimeout, bye.Code);
        Assert.True(await silent.WaitForCloseAsync());
    }
}
