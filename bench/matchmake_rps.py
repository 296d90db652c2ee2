#!/usr/bin/env python3
"""Matchmaking requests per second against a running tickwire-server on loopback.

Usage: python3 bench/matchmake_rps.py HOST PORT SECONDS CONCURRENCY [MODE]
Each request is `POST /matchmake/MODE` (default arena) on a new connection (the server answers with
`Connection: close`), as a browser's first request is. Bounded in time; loopback only.
Run the server pinned to CPU 0 and this script to CPU 1 (taskset), with a short
`--seat-ttl` and a high `--max-rooms`, since every answer reserves a seat.
"""
import asyncio
import sys
import time

HOST, PORT = sys.argv[1], int(sys.argv[2])
if not HOST.startswith("127."):
    sys.exit("loopback only")
DURATION, CONCURRENCY = float(sys.argv[3]), int(sys.argv[4])
MODE = sys.argv[5] if len(sys.argv) > 5 else "arena"
REQUEST = (
    f"POST /matchmake/{MODE} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
    "Content-Length: 0\r\nConnection: close\r\n\r\n"
).encode()
ok, refused, latencies = 0, 0, []


async def worker(deadline):
    global ok, refused
    while time.monotonic() < deadline:
        start = time.monotonic()
        reader, writer = await asyncio.open_connection(HOST, PORT)
        writer.write(REQUEST)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        latencies.append(time.monotonic() - start)
        if answer.startswith(b"HTTP/1.1 200"):
            ok += 1
        else:
            refused += 1


async def main():
    start = time.monotonic()
    await asyncio.gather(*(worker(start + DURATION) for _ in range(CONCURRENCY)))
    elapsed = time.monotonic() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000
    print(
        f"reservations {ok}, refused {refused}, {elapsed:.1f} s: {ok / elapsed:.0f} per second; "
        f"latency p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms"
    )


asyncio.run(main())
