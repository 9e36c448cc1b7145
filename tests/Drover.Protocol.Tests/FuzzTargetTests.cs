using Drover.Fuzz;
using Drover.TestUtilities;

namespace Drover.Protocol.Tests;

/// <summary>The fuzz target (tests/Drover.Fuzz, docs/fuzzing.md) and its seed corpus, without afl-fuzz: the corpus is
/// exactly the test vectors of docs/protocol.md plus one whole session, every seed passes the target, bad input that
/// throws only <see cref="ProtocolException"/> is no finding, and the replay command reports what it ran.</summary>
public sealed class FuzzTargetTests
{
    /// <summary>Set to 1 to (re)write the corpus from docs/protocol.md instead of checking it.</summary>
    private const string WriteCorpusVariable = "DROVER_WRITE_FUZZ_CORPUS";

    private static readonly string[] SessionFrames = ["hello", "status-all-kinds", "ping", "job-accepted", "job-result", "bye"];

    private static string CorpusDirectory => TestPaths.RepositoryFile("tests", "Drover.Fuzz", "corpus");

    /// <summary>The seed corpus: one file per doc vector (NAME.bin, the whole frame), and session.bin, a stream of
    /// several frames as an agent sends them (hello, a report, a ping, a job acceptance and its result, bye).</summary>
    private static Dictionary<string, byte[]> ExpectedCorpus()
    {
        var vectors = DocVectorTests.DocumentVectors.Value;
        var corpus = vectors.ToDictionary(v => $"{v.Key}.bin", v => v.Value, StringComparer.Ordinal);
        corpus["session.bin"] = [.. SessionFrames.SelectMany(name => vectors[name])];
        return corpus;
    }

    [Fact]
    public void Seed_corpus_is_the_doc_vectors_and_a_session()
    {
        var expected = ExpectedCorpus();
        if (Environment.GetEnvironmentVariable(WriteCorpusVariable) == "1")
        {
            foreach (var stale in Directory.GetFiles(CorpusDirectory))
            {
                File.Delete(stale);
            }

            foreach (var (name, bytes) in expected)
            {
                File.WriteAllBytes(Path.Combine(CorpusDirectory, name), bytes);
            }
        }

        var actual = Directory.GetFiles(CorpusDirectory).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, e => Assert.Equal(Convert.ToHexString(e.Value), Convert.ToHexString(actual[e.Key])));
    }

    [Fact]
    public void Every_seed_passes_the_target_and_decodes_whole()
    {
        foreach (var (name, bytes) in ExpectedCorpus())
        {
            var finding = Replay.Check(bytes, out var frames);
            Assert.True(finding is null, $"{name}: {finding}");
            Assert.Equal(name == "session.bin" ? 6 : 1, frames);
        }
    }

    [Theory]
    [InlineData("00 00 00 01 12 00")] // a ping one byte long: Malformed
    [InlineData("00 01 00 01 10")] // a length over the 64 KiB cap: FrameTooLarge
    [InlineData("00 00 00 00 7f")] // an unknown type
    [InlineData("00 00 00 08 12 01 02 03 04 05 06 07")] // a ping cut short: needs more, not an error
    [InlineData("00 00 00 05 10 00 00 00 00")] // a status cut inside its sequence number
    public void Bad_input_that_throws_only_protocol_exceptions_is_no_finding(string hex)
    {
        Assert.Null(Replay.Check(Frames.Hex(hex), out var frames));
        Assert.Equal(0, frames);
    }

    [Fact]
    public void A_wrong_replay_folder_is_reported_and_a_corpus_folder_replays_clean()
    {
        using var output = new StringWriter();
        Assert.Equal(2, Replay.Run([Path.Combine(CorpusDirectory, "no-such-file")], output));
        output.GetStringBuilder().Clear();
        Assert.Equal(0, Replay.Run([CorpusDirectory], output));
        Assert.Contains("no findings", output.ToString(), StringComparison.Ordinal);
    }
}
