"""Takeover time after `kill -9`, on the PostgreSQL journal's leases.

Two members share one database: this process (B) and a child process (A),
each ticking `PostgresJournal.balance(lease_s)` every `lease_s / 3`; they
settle on 32 partitions each, A appending to its partitions' streams. A is
then SIGKILLed; B keeps ticking and tries, every `--probe-ms`, to append to a
stream of one of A's partitions. The takeover time is from the kill to B's
first durable write there (the fence refuses it until B holds the lease).
It is bounded by what A's lease had left (up to `lease_s`) plus one tick.

Prints one JSON object: per `--lease` value, each run's takeover seconds.

    .venv/bin/python -m benchmarks.bench_pg_takeover --lease 1 2 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cadenza.persistence import Append, OwnershipLost, PostgresJournal, StreamInfo
from cadenza.persistence._postgres_schema import PARTITIONS, partition_of
from tests._postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]


def stream_in(partition: int) -> str:
    n = 0
    while partition_of(f"s-{n}") != partition:
        n += 1
    return f"s-{n}"


def _append(sid: str, n: int) -> Append:
    return Append(StreamInfo(sid, "bench", 1, "RUNNING", False, 0.0, float(n)), [{"n": n}])


async def child(url: str, lease_s: float) -> None:
    """Member A: tick, append to what it holds, say `ready` once it holds its share."""
    async with PostgresJournal(url, owner="A") as a:
        assert a.leases is not None
        said = False
        n = 0
        next_tick = 0.0
        while True:
            if time.monotonic() >= next_tick:
                report = await a.balance(lease_s)
                next_tick = time.monotonic() + lease_s / 3
                if not said and len(report.members) == 2 and len(a.leases.held) == report.share:
                    print("ready", flush=True)
                    said = True
            for partition in list(a.leases.held)[:4]:
                n += 1
                with contextlib.suppress(OwnershipLost):  # lost since the last tick
                    await a.append(_append(stream_in(partition), n))
            await asyncio.sleep(0.01)


async def one_run(url: str, lease_s: float, probe_s: float) -> float:
    admin = await asyncpg.connect(url)
    await admin.execute("DROP SCHEMA IF EXISTS cadenza CASCADE")
    await admin.close()
    async with PostgresJournal(url, owner="B") as b:
        assert b.leases is not None
        await b.balance(lease_s)  # B first, so the schema exists and A sees B at once
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bench_pg_takeover",
            "--child",
            url,
            str(lease_s),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        ready = asyncio.ensure_future(proc.stdout.readline())
        while not ready.done():
            await b.balance(lease_s)
            await asyncio.wait([ready], timeout=lease_s / 3)
        assert ready.result().strip() == b"ready", "the child never settled"
        await b.balance(lease_s)
        theirs = sorted(set(range(PARTITIONS)) - set(b.leases.held))
        target = stream_in(theirs[0])
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        await proc.wait()
        next_tick = killed
        n = 0
        while True:
            now = time.monotonic()
            if now >= next_tick:
                await b.balance(lease_s)
                next_tick = now + lease_s / 3
            if theirs[0] in b.leases.held:
                n += 1
                await b.append(_append(target, n))
                return time.monotonic() - killed
            await asyncio.sleep(probe_s)


async def run(url: str, leases: list[float], runs: int, probe_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for lease_s in leases:
        results[str(lease_s)] = [
            round(await one_run(url, lease_s, probe_s), 3) for _ in range(runs)
        ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("URL", "LEASE_S"), help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help="a server to use (default: a private one)")
    parser.add_argument("--lease", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probe-ms", type=float, default=10.0)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child[0], float(args.child[1])))
        return
    server = None
    url = args.url
    if url is None:
        server = PostgresServer()
        server.start()
        url = server.url()
    try:
        takeover = asyncio.run(run(url, args.lease, args.runs, args.probe_ms / 1000))
    finally:
        if server is not None:
            server.stop()
    print(
        json.dumps(
            {"platform": platform.platform(), "takeover_s_by_lease_s": takeover},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
