using System.Net;
using System.Text.Json;
using Drover.Protocol;
using Drover.TestUtilities;

namespace Drover.Hub.Tests;

/// <summary>The protocol accepts any f64 bit pattern in a status field, NaN and the infinities included
/// (docs/protocol.md, "Primitive encodings"); JSON has no literal for them, so the API shows them as text, as
/// <see cref="FieldJson"/> does for the store. Found by the fuzzing flood test's random floats (issue 10).</summary>
public sealed class NonFiniteStatusTests
{
    [Fact]
    public async Task A_report_with_NaN_and_infinities_is_shown_by_the_api_as_text()
    {
        await using var fixture = await HubFixture.StartAsync();
        await using var agent = await RawProtocolClient.ConnectAsync(fixture.AgentEndPoint);
        Assert.IsType<Welcome>(await agent.HandshakeAsync(RawProtocolClient.MakeHello("odd-floats")));
        await agent.SendAsync(RawProtocolClient.MakeStatus(
            1,
            AgentState.Idle,
            ("nan", FieldValue.From(double.NaN)),
            ("up", FieldValue.From(double.PositiveInfinity)),
            ("down", FieldValue.From(double.NegativeInfinity)),
            ("half", FieldValue.From(0.5))));
        Assert.Equal(1UL, (await agent.ReceiveAsync<StatusAck>()).Sequence);

        using var http = fixture.CreateApiClient();
        using var one = await http.GetAsync(new Uri("/api/agents/odd-floats", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using var detail = JsonDocument.Parse(await one.Content.ReadAsStringAsync());
        var fields = detail.RootElement.GetProperty("agent").GetProperty("status").GetProperty("fields");
        Assert.Equal("NaN", fields.GetProperty("nan").GetString());
        Assert.Equal("Infinity", fields.GetProperty("up").GetString());
        Assert.Equal("-Infinity", fields.GetProperty("down").GetString());
        Assert.Equal(0.5, fields.GetProperty("half").GetDouble());

        using var list = await http.GetAsync(new Uri("/api/agents", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("\"nan\":\"NaN\"", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
