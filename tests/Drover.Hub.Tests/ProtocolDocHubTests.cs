using System.Net.Http.Json;
using System.Text.Json;
using Drover.Api;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The hub-side rules docs/protocol.md states, against a real hub on 127.0.0.1 with a real SQLite file:
/// status limits (fields per report, no limit per field beyond the frame), duplicate and empty field names, the
/// bye at shutdown, and the frame cap a job agent is given.</summary>
public sealed class ProtocolDocHubTests : IAsyncLifetime
{
    private HubFixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await HubFixture.StartAsync();

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private async Task<RawProtocolClient> ConnectAgentAsync(string id, ushort jobSlots = 0, HubFixture? fixture = null)
    {
        var client = await RawProtocolClient.ConnectAsync((fixture ?? _fixture).AgentEndPoint);
        Assert.IsType<Welcome>(await client.HandshakeAsync(RawProtocolClient.MakeHello(id, jobSlots: jobSlots)));
        return client;
    }

    [Fact]
    public async Task Duplicate_and_empty_field_names_are_recorded_and_acked_and_the_api_shows_the_last_value()
    {
        await using var client = await ConnectAgentAsync("dup");
        await client.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle,
            ("a", FieldValue.From(1L)), ("a", FieldValue.From(2L)), ("", FieldValue.From(true))));
        Assert.Equal(1ul, (await client.ReceiveAsync<StatusAck>()).Sequence);

        using var http = _fixture.CreateApiClient();
        var detail = await http.GetFromJsonAsync("api/agents/dup", ApiJsonContext.Default.AgentDetail);
        var fields = detail!.Agent.Status!.Fields;
        Assert.Equal(2, fields.Count);
        Assert.Equal(2L, ((JsonElement)fields["a"]!).GetInt64());
        Assert.True(((JsonElement)fields[""]!).GetBoolean());

        // The stored report keeps every field in its order.
        var stored = await Poll.UntilAsync(
            () => _fixture.Store.GetAgentAsync("dup", CancellationToken.None),
            a => a?.Status is not null, TimeSpan.FromSeconds(10), "the report is written");
        Assert.Equal("""{"a":1,"a":2,"":true}""", stored!.Status!.FieldsJson);
    }

    [Fact]
    public async Task A_field_may_use_the_whole_frame_and_one_byte_more_is_frame_too_large()
    {
        // 12 bytes of report header + 2 + name + 1 (Null) = 65,536, the default cap.
        await using var fits = await ConnectAgentAsync("long-name");
        var name = new string('n', ProtocolConstants.DefaultMaxFrameSize - 15);
        await fits.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, (name, FieldValue.Null)));
        Assert.Equal(1ul, (await fits.ReceiveAsync<StatusAck>()).Sequence);

        await using var over = await ConnectAgentAsync("too-long-name");
        await over.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, (name + "n", FieldValue.Null)));
        var bye = await over.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.FrameTooLarge, bye.Code);
        Assert.Equal("frame payload of 65537 bytes exceeds the limit of 65536 bytes", bye.Reason);
    }

    [Fact]
    public async Task Invalid_status_is_only_the_field_count()
    {
        await using var client = await ConnectAgentAsync("many");
        var fields = Enumerable.Range(0, ProtocolConstants.DefaultMaxStatusFields + 1).Select(i => ($"f{i}", FieldValue.Null)).ToArray();
        await client.SendAsync(RawProtocolClient.MakeStatus(1, AgentState.Idle, fields));
        var bye = await client.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.InvalidStatus, bye.Code);
        Assert.Equal("status has 65 fields; the limit is 64", bye.Reason);
    }

    [Fact]
    public async Task A_stopping_hub_says_shutting_down_with_a_reason_and_no_retry_after()
    {
        var fixture = await HubFixture.StartAsync();
        await using var welcomed = await ConnectAgentAsync("stays", fixture: fixture);
        await using var pending = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        await HubFixture.WaitUntilAsync(() => fixture.Hub.PendingConnections == 1, because: "the hub holds the connection without a hello");

        var stopping = fixture.DisposeAsync().AsTask();

        // A bye decodes only if its payload is exactly a code and a reason: there is no room for a retry-after.
        var bye = await welcomed.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.ShuttingDown, bye.Code);
        Assert.Equal("hub is shutting down; reconnect with backoff", bye.Reason);
        var early = await pending.ReceiveAsync<Bye>();
        Assert.Equal(ErrorCode.ShuttingDown, early.Code);
        Assert.Equal("hub is shutting down", early.Reason);
        Assert.True(await welcomed.WaitForCloseAsync());
        await stopping;
    }

    [Fact]
    public async Task A_job_agent_gets_at_least_64_KiB_whatever_the_hubs_frame_and_result_limits()
    {
        var fixture = await HubFixture.StartAsync(o => o with { MaxFrameSize = 1024, MaxResultSize = 0 });
        try
        {
            await using var jobAgent = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            var welcome = Assert.IsType<Welcome>(await jobAgent.HandshakeAsync(RawProtocolClient.MakeHello("worker", jobSlots: 1)));
            Assert.Equal((uint)ProtocolConstants.DefaultMaxFrameSize, welcome.MaxFrameSize);

            await using var plain = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
            Assert.Equal(1024u, Assert.IsType<Welcome>(await plain.HandshakeAsync(RawProtocolClient.MakeHello("plain"))).MaxFrameSize);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }
}
