using System.Text.RegularExpressions;
using Drover.Protocol;

namespace Drover.Agent.Tests;

/// <summary>The default id kept in the state directory: made once as machine-name-8-random-chars, the same after a
/// restart, different for another state directory, written atomically, never overwritten when it is bad.</summary>
public sealed partial class AgentIdentityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-identity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_same_state_directory_gives_the_same_id_and_another_gives_another()
    {
        var first = AgentIdentity.LoadOrCreate(Path.Combine(_dir, "a"), "worker-7");
        Assert.Matches(IdShape(), first);
        Assert.StartsWith("worker-7-", first, StringComparison.Ordinal);
        Assert.True(AgentIds.IsValid(first, out _));
        Assert.Equal(first + "\n", File.ReadAllText(Path.Combine(_dir, "a", AgentIdentity.FileName)));

        // A restart reads it back, whatever the machine is called now.
        Assert.Equal(first, AgentIdentity.LoadOrCreate(Path.Combine(_dir, "a"), "renamed"));

        // A second agent on the same machine, with its own state directory.
        var second = AgentIdentity.LoadOrCreate(Path.Combine(_dir, "b"), "worker-7");
        Assert.StartsWith("worker-7-", second, StringComparison.Ordinal);
        Assert.NotEqual(first, second);

        // Nothing but the id is left in the directory (no temporary file).
        Assert.Equal([AgentIdentity.FileName], Directory.GetFiles(Path.Combine(_dir, "a")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Agents_that_start_together_on_one_state_directory_agree_on_one_id()
    {
        // Many rounds, each with its own directory and its racers (threads of their own) released together. The race this
        // guards against (a check that the name is free, then a rename that replaces whatever appeared meanwhile) gave
        // two to five ids in every run of these 40 rounds.
        for (var round = 0; round < 40; round++)
        {
            var state = Path.Combine(_dir, $"race-{round}");
            using var start = new Barrier(8);
            var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait(TimeSpan.FromSeconds(10));
                    return AgentIdentity.LoadOrCreate(state, "racer");
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default)));
            Assert.Single(ids.Distinct());
            Assert.Equal([AgentIdentity.FileName], Directory.GetFiles(state).Select(Path.GetFileName));
            Assert.Equal(ids[0], AgentIdentity.LoadOrCreate(state, "racer"));
        }
    }

    [Theory]
    [InlineData("my host (2)", "my-host--2-")]
    [InlineData("", "agent")]
    [InlineData("héte", "h-te")]
    public void A_machine_name_is_made_a_valid_id(string machine, string prefix)
    {
        var id = AgentIdentity.NewId(machine);
        Assert.StartsWith(prefix + "-", id, StringComparison.Ordinal);
        Assert.Equal(prefix.Length + 1 + AgentIdentity.SuffixLength, id.Length);
        Assert.True(AgentIds.IsValid(id, out var reason), reason);
    }

    [Fact]
    public void A_long_machine_name_is_cut_so_that_the_id_fits()
    {
        var id = AgentIdentity.NewId(new string('m', 300));
        Assert.Equal(ProtocolConstants.MaxAgentIdLength, id.Length);
        Assert.True(AgentIds.IsValid(id, out _));
    }

    [Fact]
    public void A_file_that_holds_no_valid_id_is_an_error_and_is_left_as_it_is()
    {
        var state = Path.Combine(_dir, "bad");
        Directory.CreateDirectory(state);
        var path = Path.Combine(state, AgentIdentity.FileName);
        File.WriteAllText(path, "not an id\n");
        Assert.Throws<InvalidDataException>(() => AgentIdentity.LoadOrCreate(state, "m"));
        Assert.Equal("not an id\n", File.ReadAllText(path));

        // An id written by hand (trailing whitespace and all) is taken.
        File.WriteAllText(path, "  edge-01 \n");
        Assert.Equal("edge-01", AgentIdentity.LoadOrCreate(state, "m"));
    }

    [GeneratedRegex("^[A-Za-z0-9._:@-]+-[0-9a-hjkmnp-tv-z]{8}$")]
    private static partial Regex IdShape();
}
