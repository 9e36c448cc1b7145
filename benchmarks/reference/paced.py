#!/usr/bin/env python3
"""The C reference at the rate users run: N clients of ../shared/reference/statusd.c (the single-threaded C epoll
status server), each sending one status line per INTERVAL at its own evenly spread slot and reading the ack, for DUR
seconds. Prints one JSON line: the server's CPU per update (from /proc/PID/stat), the updates acked per second, the
acks' p50/p99. The same workload as `drover bench --agents N --interval INTERVAL`, so the two can be set side by side.

    paced.py PORT SERVER_PID [N=10000] [INTERVAL=10] [DUR=60]

Loopback only; bounded in count (N clients) and time (DUR plus the connect phase)."""
import asyncio, json, os, sys, time

STATES = ["idle", "busy", "done", "error", "idle", "busy", "busy", "idle"]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(i, port, n, interval, start, end, latencies, sem):
    async with sem:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"t":"reg","id":"paced-%06d"}\n' % i)
        await reader.readline()
    seq = 0
    slot = start + interval * i / n
    while True:
        now = time.monotonic()
        if slot > end:
            break
        if slot > now:
            await asyncio.sleep(slot - now)
        seq += 1
        line = '{"t":"st","id":"paced-%06d","state":"%s","progress":%d,"load":%.2f,"ts":%d,"seq":%d}\n' % (
            i, STATES[(i + seq) & 7], seq % 101, (i % 400) / 100, int(time.time() * 1000), seq)
        sent = time.monotonic()
        writer.write(line.encode())
        ack = await reader.readline()
        if not ack:
            break
        latencies.append(time.monotonic() - sent)
        slot += interval
    writer.close()


async def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    dur = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    latencies = []
    sem = asyncio.Semaphore(256)
    # Everyone connects first (about a second for 10,000), then the measured window starts on a round second.
    start = time.monotonic() + max(5.0, n / 2000)
    end = start + dur
    tasks = [asyncio.create_task(client(i, port, n, interval, start, end, latencies, sem)) for i in range(n)]
    await asyncio.sleep(max(0, start - time.monotonic()))
    cpu0, acked0 = cpu_seconds(pid), len(latencies)
    await asyncio.sleep(dur)
    cpu1, acked1 = cpu_seconds(pid), len(latencies)
    for t in tasks:
        t.cancel()
    updates = acked1 - acked0
    window = sorted(latencies[acked0:acked1])
    print(json.dumps({
        "system": "c-epoll", "clients": n, "interval_s": interval, "duration_s": dur,
        "updates": updates, "updates_per_s": round(updates / dur, 1),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "server_cpu_us_per_update": round((cpu1 - cpu0) * 1e6 / max(updates, 1), 2),
        "ack_p50_ms": round(window[len(window) // 2] * 1000, 3) if window else None,
        "ack_p99_ms": round(window[int(len(window) * 0.99)] * 1000, 3) if window else None,
    }))


if __name__ == "__main__":
    asyncio.run(main())
