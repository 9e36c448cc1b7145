#!/usr/bin/env bash
# The C reference at the users' rate (../shared/reference/c-epoll.sh measures only the closed loop): statusd.c driven by
# paced.py, N clients each reporting once per INTERVAL seconds at an evenly spread slot, for DUR seconds. Run it right
# before or after `drover bench --agents N --interval INTERVALs --duration DURs` and compare hub_cpu_us_per_report with
# server_cpu_us_per_update: only a ratio from one sitting holds.
#   benchmarks/reference/c-epoll-paced.sh [N=10000] [INTERVAL=10] [DUR=60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/reference" && pwd)
n=${1:-10000}; interval=${2:-10}; dur=${3:-60}
out=${TMPDIR:-/tmp}/drover-reference; mkdir -p "$out"
[ "$shared/statusd.c" -nt "$out/statusd" ] && gcc -O2 -o "$out/statusd" "$shared/statusd.c"
ulimit -n 20000
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$out/statusd" "$port" 2>"$out/statusd-paced.log" & spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 100); do ss -Hltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
python3 "$here/paced.py" "$port" "$spid" "$n" "$interval" "$dur"
