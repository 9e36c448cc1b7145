using System.Buffers.Binary;
using System.Net.Http.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>A real hub on 127.0.0.1 with a real SQLite file; agents speak over real sockets.</summary>
public sealed class HubSessionTests : IAsyncLifetime
{
    private HubFixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await HubFixture.StartAsync(o => o with { Token = "s3cret" });

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private async Task<RawProtocolClient> ConnectAgentAsync(string id, IReadOnlyDictionary<string, string>? labels = null)
    {
        var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var answer = await client.HandshakeAsync(RawProtocolClient.MakeHello(id, "s3cret", labels));
        Assert.IsType<Welcome>(answer);
        return client;
    }

    [Fact]
    public async Task Hello_gets_welcome_and_reports_are_acked_recorded_and_listed()
    {
        await using var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var welcome = Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello("web-1", "s3cret", new Dictionary<string, string> { ["role"] = "web" })));
        Assert.Equal(1, welcome.Version);
        Assert.Equal(60_000u, welcome.IntervalMs);
        Assert.True(welcome.SlotOffsetMs < welcome.IntervalMs);
        Assert.Equal("test-hub", welcome.HubId);

        await client.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Busy, ("load1", FieldValue.From(0.25)), ("jobs", FieldValue.From(3L))));
        Assert.Equal(1ul, (await client.ReceiveAsync<StatusAck>()).Sequence);

        using var http = _fixture.CreateApiClient();
        var page = await http.GetFromJsonAsync("api/agents?state=online&label=role=web", ApiJsonContext.Default.AgentPage);
        var agent = Assert.Single(page!.Items);
        Assert.Equal("web-1", agent.Id);
        Assert.Equal("online", agent.State);
        Assert.Equal("busy", agent.Status!.State);
        Assert.Equal(3L, ((System.Text.Json.JsonElement)agent.Status.Fields["jobs"]!).GetInt64());

        var empty = await http.GetFromJsonAsync("api/agents?label=role=db", ApiJsonContext.Default.AgentPage);
        Assert.Empty(empty!.Items);
    }

    [Fact]
    public async Task A_new_agents_registration_is_in_the_store_before_its_welcome()
    {
        await using var client = await ConnectAgentAsync("durable-1");
        var stored = await _fixture.Store.GetAgentAsync("durable-1", CancellationToken.None);
        Assert.NotNull(stored);
        Assert.Equal("durable-1", stored.Id);
    }

    [Fact]
    public async Task Wrong_token_is_refused_with_a_clear_reason()
    {
        await using var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var refuse = Assert.IsType<Refuse>(await client.HandshakeAsync(RawProtocolClient.MakeHello("intruder", "guess")));
        Assert.Equal(ErrorCode.AuthenticationFailed, refuse.Code);
        Assert.Contains("token", refuse.Reason, StringComparison.Ordinal);
        Assert.True(await client.WaitForCloseAsync());
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("x10k")]
    public async Task Bad_agent_ids_are_refused(string id)
    {
        if (id == "x10k")
        {
            id = new string('x', 10_000);
        }

        await using var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var refuse = Assert.IsType<Refuse>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id, "s3cret")));
        Assert.Equal(ErrorCode.InvalidAgentId, refuse.Code);
    }

    [Fact]
    public async Task Status_before_hello_is_closed_with_unexpected_message()
    {
        await using var client = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        await client.SendAsync(RawProtocolClient.MakeStatus(1));
        var bye = await client.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.UnexpectedMessage, bye.Code);
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Garbage_bytes_are_closed_with_a_reason_and_other_agents_keep_reporting()
    {
        await using var good = await ConnectAgentAsync("steady");
        await using var bad = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        await bad.SendRawAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var bye = await bad.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.FrameTooLarge, bye.Code);
        Assert.True(await bad.WaitForCloseAsync());

        await good.SendAsync(RawProtocolClient.MakeStatus(1));
        Assert.Equal(1ul, (await good.ReceiveAsync<StatusAck>()).Sequence);
    }

    [Fact]
    public async Task A_frame_longer_than_the_limit_is_refused_before_its_body_arrives()
    {
        await using var client = await ConnectAgentAsync("big-talker");
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)ProtocolConstants.DefaultMaxFrameSize + 1);
        header[4] = (byte)MessageType.Status;
        await client.SendRawAsync(header);
        var bye = await client.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.FrameTooLarge, bye.Code);
    }

    [Fact]
    public async Task Unknown_message_type_is_closed_with_its_code()
    {
        await using var client = await ConnectAgentAsync("odd-one");
        await client.SendRawAsync(new byte[] { 0, 0, 0, 1, 0x7E, 0 });
        Assert.Equal(ErrorCode.UnknownMessageType, (await client.ReceiveAsync<Bye>()).Code);
    }

    [Fact]
    public async Task A_new_session_takes_over_and_the_old_ones_close_never_marks_the_agent_offline()
    {
        await using var first = await ConnectAgentAsync("twin");
        await using var second = await ConnectAgentAsync("twin");
        var bye = await first.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.SessionReplaced, bye.Code);
        await first.DisposeAsync();

        await second.SendAsync(RawProtocolClient.MakeStatus(5));
        await second.ReceiveAsync<StatusAck>();
        Assert.True(_fixture.Hub.Registry.TryGet("twin", out var entry));
        Assert.NotNull(entry.Session);
        Assert.Equal(Storage.Presence.Online, entry.Presence);
        Assert.Equal(1, _fixture.Hub.ConnectedAgents);
    }

    [Fact]
    public async Task An_agent_keeps_its_slot_across_reconnects_and_new_agents_get_other_slots()
    {
        uint firstSlot;
        await using (var first = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint))
        {
            firstSlot = Assert.IsType<Welcome>(await first.HandshakeAsync(RawProtocolClient.MakeHello("slotted", "s3cret"))).SlotOffsetMs;
        }

        await using var other = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var otherSlot = Assert.IsType<Welcome>(await other.HandshakeAsync(RawProtocolClient.MakeHello("neighbour", "s3cret"))).SlotOffsetMs;
        await using var again = await RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint);
        var againSlot = Assert.IsType<Welcome>(await again.HandshakeAsync(RawProtocolClient.MakeHello("slotted", "s3cret"))).SlotOffsetMs;

        Assert.Equal(firstSlot, againSlot);
        Assert.NotEqual(firstSlot, otherSlot);
    }

    [Fact]
    public async Task Ping_is_answered_with_pong()
    {
        await using var client = await ConnectAgentAsync("pinger");
        await client.SendAsync(new Ping(42));
        Assert.Equal(42ul, (await client.ReceiveAsync<Pong>()).Value);
    }

    [Fact]
    public async Task Too_many_status_fields_is_refused_with_invalid_status()
    {
        await using var client = await ConnectAgentAsync("chatty");
        var fields = Enumerable.Range(0, 65).Select(i => ($"f{i}", FieldValue.From((long)i))).ToArray();
        await client.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, fields));
        Assert.Equal(ErrorCode.InvalidStatus, (await client.ReceiveAsync<Bye>()).Code);
    }

    [Fact]
    public async Task Bye_from_the_agent_marks_it_lost_with_the_reason()
    {
        await using var client = await ConnectAgentAsync("leaver");
        await client.SendAsync(new Bye(ErrorCode.None, "maintenance"));
        await HubFixture.WaitUntilAsync(() => _fixture.Hub.Registry.TryGet("leaver", out var e) && e.Session is null);
        Assert.True(_fixture.Hub.Registry.TryGet("leaver", out var entry));
        Assert.Equal(Storage.Presence.Lost, entry.Presence);
        Assert.StartsWith($"{DisconnectReason.AgentClosed}:", entry.LastDisconnectReason, StringComparison.Ordinal);
        Assert.Contains("maintenance", entry.LastDisconnectReason, StringComparison.Ordinal); // the agent's own words, passed on
    }

    [Fact]
    public async Task A_thousand_connections_opened_and_dropped_at_once_leave_the_hub_serving()
    {
        await using var steady = await ConnectAgentAsync("survivor");
        var sockets = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => RawProtocolClient.ConnectAsync(_fixture.AgentEndPoint)));
        await Task.WhenAll(sockets.Select(s => s.DisposeAsync().AsTask()));

        await steady.SendAsync(RawProtocolClient.MakeStatus(1));
        await steady.ReceiveAsync<StatusAck>();
        await HubFixture.WaitUntilAsync(() => _fixture.Hub.PendingConnections == 0, because: "dropped connections are released");
        Assert.Equal(1, _fixture.Hub.ConnectedAgents);
    }

    [Fact]
    public async Task Stats_count_agents_by_state_and_reports()
    {
        await using var client = await ConnectAgentAsync("counted");
        for (ulong i = 1; i <= 3; i++)
        {
            await client.SendAsync(RawProtocolClient.MakeStatus(i));
            await client.ReceiveAsync<StatusAck>();
        }

        using var http = _fixture.CreateApiClient();
        var stats = await http.GetFromJsonAsync("api/stats", ApiJsonContext.Default.StatsView);
        Assert.Equal(1, stats!.ByState["online"]);
        Assert.Equal(3, stats.TotalReports);
        Assert.Equal(60, stats.ArrivalsPerSecond.Length);

        var detail = await http.GetFromJsonAsync("api/agents/counted", ApiJsonContext.Default.AgentDetail);
        Assert.Equal("counted", detail!.Agent.Id);
        using var missing = await http.GetAsync(new Uri("api/agents/nobody", UriKind.Relative));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
        using var badState = await http.GetAsync(new Uri("api/agents?state=sleepy", UriKind.Relative));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badState.StatusCode);
    }

    [Fact]
    public async Task A_connection_whose_socket_is_gone_still_names_its_address_for_the_log()
    {
        // The hub's stop may close a session (and log it) while its read loop ends and disposes the socket.
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await listener.AcceptAsync();
        var connection = new Connections.AgentConnection(accepted, _fixture.Hub.Sessions, 0);
        Assert.Equal(client.LocalEndPoint!.ToString(), connection.RemoteAddress);

        connection.Dispose();
        Assert.Equal("unknown", connection.RemoteAddress);
    }
}
