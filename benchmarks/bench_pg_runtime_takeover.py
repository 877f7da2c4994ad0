"""Takeover after `kill -9` between two `Runtime`s on PostgreSQL: death to the new owner's write.

Two child processes, A and B, each serve `Runtime(URL, lease_s=...)` with
local workers for a three-step workflow whose steps take `--step-ms`. Once
the partitions are spread (32 each, read from the `leases` table), A starts
`--runs` runs (minted in its own partitions) and, once they are under way,
is SIGKILLed. The takeover time is from the kill to the first record B
writes to a run of A's partitions (records carry their writer's owner name;
this script polls for it every `--probe-ms`): B's heartbeat (every
`lease_s / 3`) must see A's leases run out on the database's clock, take
the partitions, recover their runs and write. It is bounded by what A's
leases had left (up to `lease_s`) plus a tick plus recovery.

Unlike `bench_pg_takeover` (journal members only), this measures the whole
runtime: membership, takeover, recovery. Prints one JSON object: per
`--lease` value, each run's takeover seconds, and how many of A's runs
then completed under B.

    .venv/bin/python -m benchmarks.bench_pg_runtime_takeover --lease 1 3 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parents[1]
NEW_WRITE = (
    "SELECT 1 FROM cadenza.records r JOIN cadenza.streams s USING (stream_id) "
    "WHERE r.owner = $1 AND s.partition = ANY($2::integer[]) AND r.seq > $3 LIMIT 1"
)


async def child(url: str, lease_s: float, step_s: float) -> None:
    """Serve until killed; on a `start N` line from stdin, start N runs."""
    import anyio

    import cadenza
    from tests.conftest import three_steps

    async def step(data: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(step_s)
        return {"n": data["n"] + 1}

    async with cadenza.Runtime(url, lease_s=lease_s) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, step, concurrency=64)
        ownership: Any = rt._engine.ownership
        print(ownership.leases.owner, flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if not line:
                return
            if line.startswith("start"):
                for i in range(int(line.split()[1])):
                    await rt.start("three_steps", {"n": i})
                print("started", flush=True)


async def spawn(url: str, lease_s: float, step_s: float) -> tuple[Any, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_pg_runtime_takeover", "--child", url,
        str(lease_s), str(step_s), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    owner = (await proc.stdout.readline()).decode().strip()
    if not owner:
        raise RuntimeError("a runtime did not start")
    return proc, owner


async def one_run(url: str, lease_s: float, runs: int, step_s: float, probe_s: float) -> dict[str, Any]:  # fmt: skip
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("DROP SCHEMA IF EXISTS cadenza CASCADE")
        a, owner_a = await spawn(url, lease_s, step_s)
        b, owner_b = await spawn(url, lease_s, step_s)
        mine: list[int] = []
        for _ in range(int(20 * lease_s / probe_s)):  # the spread: 32 partitions each
            rows = await admin.fetch("SELECT owner, partition FROM cadenza.leases")
            held = {owner: [p for o, p in rows if o == owner] for owner in (owner_a, owner_b)}
            if len(held[owner_a]) == len(held[owner_b]) == 32:
                mine = held[owner_a]
                break
            await asyncio.sleep(probe_s)
        if not mine:
            raise RuntimeError("the partitions never spread evenly")
        assert a.stdin is not None
        assert a.stdout is not None
        a.stdin.write(f"start {runs}\n".encode())
        await a.stdin.drain()
        assert (await a.stdout.readline()).strip() == b"started"
        await asyncio.sleep(step_s * 1.5)  # under way: some at their first step, some later
        last = await admin.fetchval("SELECT coalesce(max(seq), 0) FROM cadenza.records")
        os.kill(a.pid, signal.SIGKILL)
        killed = time.monotonic()
        await a.wait()
        while not await admin.fetchval(NEW_WRITE, owner_b, mine, last):  # noqa: ASYNC110 (polling the database is the measurement)
            await asyncio.sleep(probe_s)
        takeover_s = time.monotonic() - killed
        deadline = time.monotonic() + 30 + 3 * step_s
        done = 0
        while time.monotonic() < deadline:
            done = await admin.fetchval(
                "SELECT count(*) FROM cadenza.streams WHERE status = 'COMPLETED'"
            )
            if done >= runs:
                break
            await asyncio.sleep(0.1)
        assert b.stdin is not None
        b.stdin.close()
        await b.wait()
        return {"takeover_s": round(takeover_s, 3), "completed_after": done, "runs": runs}
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("URL", "LEASE_S", "STEP_S"), help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--url", default=None, help="a server to use (default: a private one)")
    parser.add_argument("--lease", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--runs", type=int, default=3, help="kills per lease value")
    parser.add_argument("--workflows", type=int, default=200, help="runs A starts before its kill")
    parser.add_argument("--step-ms", type=float, default=200.0)
    parser.add_argument("--probe-ms", type=float, default=5.0)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child[0], float(args.child[1]), float(args.child[2])))
        return
    from tests._postgres import PostgresServer

    server = None
    url = args.url
    if url is None:
        server = PostgresServer()
        server.start()
        url = server.url()
    results: dict[str, Any] = {}
    try:
        for lease_s in args.lease:
            step_s, probe_s = args.step_ms / 1000, args.probe_ms / 1000
            results[str(lease_s)] = [
                asyncio.run(one_run(url, lease_s, args.workflows, step_s, probe_s))
                for _ in range(args.runs)
            ]
    finally:
        if server is not None:
            server.stop()
    print(json.dumps({"platform": platform.platform(), "cpus": os.cpu_count(),
                      "step_ms": args.step_ms, "workflows": args.workflows,
                      "by_lease_s": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
