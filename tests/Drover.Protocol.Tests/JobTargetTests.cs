using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Drover.Protocol.Tests;

public sealed class JobTargetTests
{
    [Theory]
    [InlineData("random", JobTargetKind.Random, null, null, null)]
    [InlineData("least-loaded", JobTargetKind.LeastLoaded, null, null, null)]
    [InlineData("agent:web-17", JobTargetKind.Agent, "web-17", null, null)]
    [InlineData("agent:host.example:7@x", JobTargetKind.Agent, "host.example:7@x", null, null)]
    [InlineData("label:role=web", JobTargetKind.Label, null, "role", "web")]
    [InlineData("label:zone=", JobTargetKind.Label, null, "zone", "")]
    [InlineData("label:a=b=c", JobTargetKind.Label, null, "a", "b=c")]
    public void Targets_parse_into_their_parts_and_print_back_as_given(string text, JobTargetKind kind, string? agent, string? key, string? value)
    {
        Assert.True(JobTarget.TryParse(text, out var target, out var error), error);

        Assert.Equal(kind, target.Kind);
        Assert.Equal(agent, target.AgentId);
        Assert.Equal(key, target.LabelKey);
        Assert.Equal(value, target.LabelValue);
        Assert.Equal(text, target.ToString());
    }

    [Theory]
    [InlineData("somewhere", "'somewhere' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("", "'' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("RANDOM", "'RANDOM' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData(" random", "' random' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:", "'label:' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:role", "'label:role' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:=web", "'label:=web' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label: =web", "'label: =web' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("label:a=\0", "'label:a=\0' is not a target; use random, least-loaded, agent:ID or label:key=value")]
    [InlineData("agent:", "'agent:' does not name a valid agent: agent id is empty")]
    [InlineData("agent:bad id", "'agent:bad id' does not name a valid agent: agent id has the character U+0020; allowed are A-Z a-z 0-9 . _ : @ -")]
    public void Malformed_targets_are_refused_with_one_line_saying_why(string text, string expected)
    {
        Assert.False(JobTarget.TryParse(text, out _, out var error));
        Assert.Equal(expected, error);
        Assert.Throws<FormatException>(() => JobTarget.Parse(text));
    }

    [Fact]
    public void Null_and_overlong_targets_are_refused_and_the_error_quotes_at_most_140_characters()
    {
        Assert.False(JobTarget.TryParse(null, out _, out _));

        var overlong = "label:k=" + new string('v', JobTarget.MaxLength);
        Assert.False(JobTarget.TryParse(overlong, out _, out var error));
        Assert.StartsWith($"'{overlong[..140]}…' is not a target", error, StringComparison.Ordinal);
        Assert.True(JobTarget.TryParse(overlong[..JobTarget.MaxLength], out _, out _));
    }

    [Fact]
    public void The_default_target_is_random()
    {
        Assert.Equal(JobTargetKind.Random, default(JobTarget).Kind);
        Assert.Equal("random", default(JobTarget).ToString());
        Assert.Equal(JobTarget.Random, JobTarget.Parse("random"));
        Assert.Equal("agent:a-1", JobTarget.ForAgent("a-1").ToString());
    }

    /// <summary>Whatever parses prints back to the same text, and that text parses to an equal target.</summary>
    [Property(MaxTest = 500)]
    public Property Parse_and_print_round_trip() => Prop.ForAll(Arb.From(Targets), text =>
    {
        var parsed = JobTarget.TryParse(text, out var target, out _);
        return parsed && target.ToString() == text && JobTarget.Parse(target.ToString()) == target;
    });

    private static Gen<string> Targets
    {
        get
        {
            var idChar = Gen.Elements("abcXYZ019._:@-".ToCharArray());
            var id = Gen.NonEmptyListOf(idChar).Select(chars => new string([.. chars.Take(128)]));
            var labelChar = Gen.Elements("abc=é 9-_/".ToCharArray());
            var word = Gen.ListOf(labelChar).Select(chars => new string([.. chars.Take(40)]));
            var key = Gen.NonEmptyListOf(Gen.Elements("abcé9-_/".ToCharArray())).Select(chars => new string([.. chars.Take(40)]));
            return Gen.OneOf(
                Gen.Constant("random"),
                Gen.Constant("least-loaded"),
                id.Select(i => "agent:" + i),
                key.SelectMany(k => word.Select(v => $"label:{k}={v}")));
        }
    }
}
