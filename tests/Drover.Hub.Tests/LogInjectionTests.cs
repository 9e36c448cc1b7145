using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>What an agent sends reaches the hub's log escaped (<see cref="LogText"/>): a refused id with NUL and ESC in
/// it, a bye reason with a line break, over a raw socket to a real hub.</summary>
public sealed class LogInjectionTests
{
    private const int RefusedEvent = 203;
    private const int SessionEndedEvent = 201;

    [Fact]
    public async Task A_refused_id_with_NUL_and_ESC_is_logged_escaped()
    {
        var log = new LogCapture();
        await using var fixture = await HubFixture.StartAsync(loggerFactory: log.Factory);
        await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);

        var refuse = Assert.IsType<Refuse>(await client.HandshakeAsync(RawProtocolClient.MakeHello("evil\0agent\u001b[2J\nINFO forged line")));
        Assert.Equal(ErrorCode.InvalidAgentId, refuse.Code);

        await HubFixture.WaitUntilAsync(() => log.WithEvent(RefusedEvent).Count == 1);
        var line = log.WithEvent(RefusedEvent)[0].Message;
        Assert.Contains("evil\\u0000agent\\u001B[2J\\u000AINFO forged line", line, StringComparison.Ordinal);
        Assert.DoesNotContain(line, c => c is '\0' or '\u001b' or '\n');
    }

    [Fact]
    public async Task A_long_refused_id_is_cut_with_a_marker()
    {
        var log = new LogCapture();
        await using var fixture = await HubFixture.StartAsync(loggerFactory: log.Factory);
        await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);

        var refuse = Assert.IsType<Refuse>(await client.HandshakeAsync(RawProtocolClient.MakeHello(new string('x', 5000))));
        Assert.Equal(ErrorCode.InvalidAgentId, refuse.Code);

        await HubFixture.WaitUntilAsync(() => log.WithEvent(RefusedEvent).Count == 1);
        var line = log.WithEvent(RefusedEvent)[0].Message;
        Assert.Contains(new string('x', LogText.DefaultMaxLength) + "…(" + (5000 - LogText.DefaultMaxLength) + " more characters)", line, StringComparison.Ordinal);
        Assert.True(line.Length < 1000, line);
    }

    [Fact]
    public async Task A_bye_reason_with_control_characters_is_logged_escaped()
    {
        var log = new LogCapture();
        await using var fixture = await HubFixture.StartAsync(loggerFactory: log.Factory);
        await using var client = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello("bye-agent")));

        await client.SendAsync(new Bye(ErrorCode.None, "done\r\n\u202Eevil\u0007"));
        await HubFixture.WaitUntilAsync(() => log.WithEvent(SessionEndedEvent).Count == 1);
        var line = log.WithEvent(SessionEndedEvent)[0].Message;
        Assert.Contains("done\\u000D\\u000A\\u202Eevil\\u0007", line, StringComparison.Ordinal);
        Assert.DoesNotContain(line, LogText.IsEscaped);
    }
}
