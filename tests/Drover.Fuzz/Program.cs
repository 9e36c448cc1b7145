using Drover.Fuzz;
using SharpFuzz;

// Under afl-fuzz (docs/fuzzing.md): SharpFuzz's fork server runs the target once per input read from stdin, in a child
// process it restarts when that child dies (a stack overflow or a timeout is then a finding too, not the end of the run).
// Without afl-fuzz it runs the target once on stdin. `--replay PATH...` runs files or whole folders (a crash folder, the
// corpus) through the target in this process and prints what escaped, with its stack: the way to reproduce a finding.
if (args is ["--replay", .. var paths])
{
    return Replay.Run(paths, Console.Out);
}

if (args.Length != 0)
{
    await Console.Error.WriteLineAsync("usage: Drover.Fuzz                 (under afl-fuzz: one input per run, on stdin)\n"
        + "       Drover.Fuzz --replay PATH...  (files or folders: run each input, print the findings; exit 1 if any)");
    return 2;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var input = new MemoryStream();
    stream.CopyTo(input);
    FrameTarget.Run(input.GetBuffer().AsSpan(0, (int)input.Length));
});
return 0;
