namespace Drover.Protocol.Tests;

public sealed class AgentIdsTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("edge-01")]
    [InlineData("Edge_01.lyon:rack7@dc-2")]
    [InlineData("0123456789")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-")]
    public void Valid_ids_are_accepted(string id)
    {
        Assert.True(AgentIds.IsValid(id, out var reason));
        Assert.Equal(string.Empty, reason);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Empty_id_is_rejected(string? id)
    {
        Assert.False(AgentIds.IsValid(id, out var reason));
        Assert.Contains("empty", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Ten_kilobyte_id_is_rejected_for_its_length()
    {
        Assert.False(AgentIds.IsValid(new string('a', 10 * 1024), out var reason));
        Assert.Contains("10240 bytes", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Limit_is_128_bytes()
    {
        Assert.True(AgentIds.IsValid(new string('x', 128), out _));
        Assert.False(AgentIds.IsValid(new string('x', 129), out var reason));
        Assert.Contains("129 bytes", reason, StringComparison.Ordinal);
        Assert.Contains("128", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Limit_counts_utf8_bytes_not_characters()
    {
        // 65 characters, but 130 bytes of UTF-8: the length check comes first and counts bytes.
        Assert.False(AgentIds.IsValid(new string('é', 65), out var reason));
        Assert.Contains("130 bytes", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("edge 01", 0x20)]
    [InlineData("edge/01", 0x2F)]
    [InlineData("édge", 0xE9)]
    [InlineData("tab\there", 0x09)]
    [InlineData("nul\0", 0x00)]
    [InlineData("a+b", 0x2B)]
    [InlineData("a#b", 0x23)]
    [InlineData("über", 0xFC)]
    public void Characters_outside_the_set_are_rejected(string id, int codePoint)
    {
        Assert.False(AgentIds.IsValid(id, out var reason));
        Assert.Contains($"U+{codePoint:X4}", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Emoji_is_rejected()
    {
        Assert.False(AgentIds.IsValid("agent-🚜", out var reason));
        Assert.Contains("allowed are", reason, StringComparison.Ordinal);
    }
}
