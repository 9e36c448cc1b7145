using System.Text.RegularExpressions;
using Drover.TestUtilities;

namespace Drover.Protocol.Tests;

/// <summary>docs/protocol.md and the codec agree: every "### Vector:" hex block decodes to the
/// message in <see cref="DocVectors"/> and re-encodes to the same bytes, and the two lists match.</summary>
public sealed partial class DocVectorTests
{
    /// <summary>Every "### Vector:" hex block of docs/protocol.md, by name (also the seed corpus of the fuzz target).</summary>
    internal static readonly Lazy<IReadOnlyDictionary<string, byte[]>> DocumentVectors = new(ParseDocument);

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in DocVectors.Expected.Keys.Order(StringComparer.Ordinal))
        {
            data.Add(name);
        }

        return data;
    }

    [Fact]
    public void Document_and_test_know_the_same_vectors()
    {
        var inDocument = DocumentVectors.Value.Keys.Order(StringComparer.Ordinal).ToList();
        var inTest = DocVectors.Expected.Keys.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(inTest, inDocument);
    }

    [Fact]
    public void Every_message_type_has_a_vector()
    {
        var covered = DocVectors.Expected.Values.Select(m => m.Type).ToHashSet();
        Assert.Equal(Enum.GetValues<MessageType>().Order(), covered.Order());
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Vector_decodes_to_the_expected_message_and_reencodes_identically(string name)
    {
        Assert.True(DocumentVectors.Value.TryGetValue(name, out var bytes), $"docs/protocol.md has no vector '{name}'");
        var expected = DocVectors.Expected[name];

        // The reference encoder produces exactly the documented bytes.
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(FrameCodec.ToArray(expected)));

        // The documented bytes decode (span form) to the expected message.
        var decoded = Frames.ReadOne(bytes);
        MessageAssert.Equivalent(expected, decoded);
        Assert.Equal(bytes, FrameCodec.ToArray(decoded));

        // Sequence form, one byte per segment: the hardest split.
        var sequence = Segments.Split(bytes, Enumerable.Range(1, bytes.Length - 1));
        Assert.True(FrameCodec.TryReadFrame(ref sequence, ProtocolConstants.DefaultMaxFrameSize, out var type, out var payload));
        Assert.Equal(0, sequence.Length);
        var fromSequence = FrameCodec.Decode(type, payload);
        MessageAssert.Equivalent(expected, fromSequence);
        Assert.Equal(bytes, FrameCodec.ToArray(fromSequence));
    }

    [Fact]
    public void Hello_vectors_fit_the_hello_limit()
    {
        foreach (var (name, bytes) in DocumentVectors.Value.Where(v => DocVectors.Expected.GetValueOrDefault(v.Key) is Hello))
        {
            Assert.True(FrameCodec.TryReadFrame(bytes, ProtocolConstants.MaxHelloFrameSize, out _, out _, out _), name);
        }
    }

    /// <summary>The Python sketch in the doc encodes hello, status and the job messages exactly as the vectors
    /// say, reads the welcome vector right, and runs the job vector (and a tampered copy) to the right results.
    /// Needs python3 on the PATH (.ci/run installs it).</summary>
    [Fact]
    public async Task Python_sketch_in_the_document_agrees_with_the_vectors()
    {
        var python = TestPaths.RequirePython();

        var sketch = TestPaths.ProtocolDocPythonAgent();

        var dir = Directory.CreateTempSubdirectory("drover-pyagent-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "agent.py"), sketch);
            var welcome = DocumentVectors.Value["welcome"].AsSpan(ProtocolConstants.HeaderSize).ToArray();
            var job = DocumentVectors.Value["job"].AsSpan(ProtocolConstants.HeaderSize).ToArray();
            var tampered = (byte[])job.Clone();
            tampered[^1] ^= 1;
            var check = $$"""
                import struct, agent
                print("hello", agent.hello("edge-01", "s3cret", "1.0.0", {"site": "lyon", "rack": "r7"}, ["files", "shell"], 4).hex())
                print("hello-agent-key", agent.hello("a", "", "", key="k3y-0123456789ab").hex())
                print("status", agent.status(1, {}).hex())
                print("ping", agent.frame(0x12, bytes.fromhex("0102030405060708")).hex())
                print("pong", agent.frame(0x13, bytes.fromhex("0102030405060708")).hex())
                _, epoch, interval, slot, hub_ms = struct.unpack_from(">HQIIq", bytes.fromhex("{{Convert.ToHexString(welcome)}}"))
                print("welcome", epoch, interval, slot, hub_ms)
                print("next_slot", int(agent.next_slot(1767225603000, interval, slot)))
                print("status-job-agent", agent.status(3, {"jobs_in_flight": 1, "job_slots": 1}, 2).hex())
                job = bytes.fromhex("{{Convert.ToHexString(job)}}")
                key1, key2 = agent.ident(job), agent.s("j-42") + struct.pack(">I", 2)
                print("job-accepted", agent.frame(0x31, key1).hex())
                print("job-result", agent.job_result(key1, 0, 0, 1250, b"hi\n", b"w", b"ok").hex())
                print("job-result-timeout", agent.job_result(key2, 1, 137, 30000, error="killed at the timeout of 30000 ms").hex())
                print("job-result-start-failed", agent.job_result(key1, 3, -1, 0, error="could not write the input file: No space left on device").hex())
                print("run", agent.run_job(job).hex())
                print("run-tampered", agent.run_job(bytes.fromhex("{{Convert.ToHexString(tampered)}}")).hex())
                """;
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "check.py"), check);
            var start2 = new System.Diagnostics.ProcessStartInfo(python, ["check.py"])
            {
                WorkingDirectory = dir.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = System.Diagnostics.Process.Start(start2)!;
            var stdout = await process.StandardOutput.ReadToEndAsync();
            var stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, stderr);

            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToDictionary(p => p[0], p => p[1].Trim());
            foreach (var name in new[] { "hello", "hello-agent-key", "status", "ping", "pong", "status-job-agent", "job-accepted", "job-result", "job-result-timeout", "job-result-start-failed" })
            {
                Assert.Equal(Convert.ToHexString(DocumentVectors.Value[name]), lines[name].ToUpperInvariant());
            }

            Assert.Equal("42 60000 17250 1767225600000", lines["welcome"]);
            Assert.Equal("1767225617250", lines["next_slot"]); // 12:00:03 → the 17.250 s slot of the same minute

            // The sketch's handler counts the bytes of the job vector's 8-byte file: a success.
            var ran = Assert.IsType<JobResult>(Frames.ReadOne(Convert.FromHexString(lines["run"])));
            Assert.Equal(("j-42", 1u, JobOutcome.Completed, 0, "8 bytes\n"), (ran.JobId, ran.Attempt, ran.Outcome, ran.ExitCode, System.Text.Encoding.UTF8.GetString(ran.StdoutTail.Span)));

            // One byte changed in the content: nothing runs.
            var refused = Assert.IsType<JobResult>(Frames.ReadOne(Convert.FromHexString(lines["run-tampered"])));
            Assert.Equal((JobOutcome.HashMismatch, -1, 0u, 0), (refused.Outcome, refused.ExitCode, refused.DurationMs, refused.StdoutTail.Length));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Dictionary<string, byte[]> ParseDocument()
    {
        var text = File.ReadAllText(TestPaths.RepositoryFile("docs", "protocol.md"));
        var vectors = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        string? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                var heading = VectorHeading().Match(line);
                current = heading.Success ? heading.Groups[1].Value : null;
                continue;
            }

            if (line.Trim() != "```hex")
            {
                continue;
            }

            var hex = new List<string>();
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++)
            {
                hex.Add(lines[i]);
            }

            Assert.True(i < lines.Length, "unterminated ```hex block in docs/protocol.md");
            Assert.True(current is not null, $"a ```hex block in docs/protocol.md (line {i}) is not under a '### Vector:' heading");
            var body = string.Join(' ', hex);
            Assert.Matches(HexBody(), body);
            Assert.True(vectors.TryAdd(current!, Frames.Hex(body)), $"vector '{current}' has two hex blocks");
        }

        return vectors;
    }

    [GeneratedRegex(@"^###\s+Vector:\s*(\S+)\s*$")]
    private static partial Regex VectorHeading();

    [GeneratedRegex(@"^\s*([0-9a-fA-F]{2}\s+)*[0-9a-fA-F]{2}\s*$")]
    private static partial Regex HexBody();
}
