#!/bin/sh
# Fuzzes the frame and message decoders with AFL++ through SharpFuzz (docs/fuzzing.md).
# Usage: tests/Drover.Fuzz/fuzz.sh [SECONDS]   (default 1200; 0 = until Ctrl-C)
# Needs: Debian's afl++ package and the dotnet tool SharpFuzz.CommandLine 2.3.0 (sharpfuzz on the PATH).
# Output: artifacts/fuzz/bin (the instrumented build), artifacts/fuzz/findings (afl-fuzz's queue, crashes, hangs).
set -eu
cd "$(dirname "$0")/../.."
seconds="${1:-1200}"
out=artifacts/fuzz
rm -rf "$out/bin"
dotnet publish tests/Drover.Fuzz -c Release -o "$out/bin" --nologo -v quiet
sharpfuzz "$out/bin/Drover.Protocol.dll"
# An existing findings folder is resumed (-i -), else the seed corpus starts a new run.
if [ -d "$out/findings/default/queue" ]; then input=-; else input=tests/Drover.Fuzz/corpus; fi
duration=""; [ "$seconds" -gt 0 ] && duration="-V $seconds"
# AFL_SKIP_BIN_CHECK: the target is `dotnet`, which carries no AFL instrumentation of its own.
# AFL_NO_AFFINITY: do not pin a core on a machine that others share.
# -t 5000: .NET's slow first run; -m none: the runtime reserves far more address space than afl's default limit.
AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    nice afl-fuzz -i "$input" -o "$out/findings" -x tests/Drover.Fuzz/drover.dict -t 5000 -m none $duration \
    -- dotnet "$out/bin/Drover.Fuzz.dll"
