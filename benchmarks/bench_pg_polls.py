"""Tasks/s handed out to external pollers spread over 1, 2 and 3 processes on one PostgreSQL.

Issue 17, item 4 (the shared worker-group queues). Each process is a
`Runtime(URL, lease_s=...)` (a child process of this script) with no local
worker. Once the partitions are spread, every process starts its share of
`--runs` one-task runs and settles (their tasks are posted to the shared
queue: the owners are spread over the processes too). On "go", each process
runs `--pollers` coroutines that `poll` and `complete` through the public
API until the queue is drained; a poller gets any process's task, in global
priority order. Throughput is the tasks handed out and completed over the
time from "go" to the last completion in any process (`handed_per_s`); the
runs' ends, applied by their owners (through the inbox for a result given
to another process), are timed too (`runs_done_per_s`, from "go" to the
last run's end).

The ceiling, measured in the same run on the same server: the queue table
alone (`SharedQueue.claim` + `finish`, the two statements each hand-out
costs at the least) with `--pollers` connections in this process
(`queue_only_per_s`). What the runtime adds per task beyond it is the
poll's read-your-writes barrier, the start message to the owner (an inbox
row when another process owns the run), the owner's journal writes (task
started, task completed, run completed, the void of the row) and the result
routed back.

    .venv/bin/python -m benchmarks.bench_pg_polls --runs 600 --procs 1 2 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

import cadenza
from cadenza.persistence import PostgresJournal
from cadenza.persistence._postgres_queue import QueuedRow, SharedQueue
from tests._postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
ONE_TASK = {
    "name": "one_task",
    "tasks": [{"name": "remote", "taskReferenceName": "r", "inputParameters": {"n": "${workflow.input.n}"}}],
}  # fmt: skip


async def start_runs(rt: cadenza.Runtime, runs: int) -> list[str]:
    """Start `runs` one_task runs, 64 at a time; their ids."""
    limiter = anyio.Semaphore(64)
    ids: list[str] = []

    async def start(i: int) -> None:
        async with limiter:
            ids.append(await rt.start("one_task", {"n": i}))

    async with anyio.create_task_group() as tg:
        for i in range(runs):
            tg.start_soon(start, i)
    return ids


async def line() -> str:
    return (await anyio.to_thread.run_sync(sys.stdin.readline)).strip()


async def child(url: str, runs: int, pollers: int, lease_s: float) -> dict[str, Any]:
    """One process: start `runs` runs when told, poll when told; its timings (epoch s)."""
    async with cadenza.Runtime(url, lease_s=lease_s, durability="full") as rt:
        await rt.register(ONE_TASK)
        print("up", flush=True)
        assert await line() == "start"
        ids = await start_runs(rt, runs)
        await rt.settle()
        print("ready", flush=True)
        assert await line() == "go"
        cpu_began = time.process_time()
        handed = 0
        last = 0.0

        async def poller() -> None:
            nonlocal handed, last
            while (task := await rt.poll("remote", wait=1.0)) is not None:
                await rt.complete(task.id, {"n": 1})
                handed += 1
                last = time.time()

        async with anyio.create_task_group() as tg:
            for _ in range(pollers):
                tg.start_soon(poller)
        ended = 0.0
        for run_id in ids:
            done = await rt.wait(run_id)
            assert done.status == "COMPLETED", done.status
            ended = max(ended, done.ended_at or 0.0)
        return {"handed": handed, "last_handed_at": last, "last_run_end_at": ended,
                "cpu_s": time.process_time() - cpu_began}  # fmt: skip


async def processes(url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    share = args.runs // n
    procs = []
    for _ in range(n):
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bench_pg_polls", "--child", url,
            "--runs", str(share), "--pollers", str(args.pollers), "--lease", str(args.lease),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        ))  # fmt: skip

    async def say(word: bytes) -> None:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()

    async def hear(word: bytes) -> None:
        for proc in procs:
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == word

    await hear(b"up")
    await asyncio.sleep(args.lease * 1.2)  # a few heartbeat ticks: the partitions spread
    await say(b"start")
    await hear(b"ready")
    began = time.time()
    await say(b"go")
    reports = []
    for proc in procs:
        assert proc.stdout is not None
        reports.append(json.loads(await proc.stdout.readline()))
        await proc.wait()
    total = sum(r["handed"] for r in reports)
    handed_s = max(r["last_handed_at"] for r in reports) - began
    runs_s = max(r["last_run_end_at"] for r in reports) - began
    return {"processes": n, "pollers_per_process": args.pollers, "tasks": total,
            "handed_per_process": [r["handed"] for r in reports],
            "handed_per_s": round(total / handed_s, 1), "runs_done_per_s": round(total / runs_s, 1),
            "client_cpu_ms_per_task": round(1000 * sum(r["cpu_s"] for r in reports) / total, 2)}  # fmt: skip


async def queue_only(url: str, tasks: int, pollers: int) -> dict[str, Any]:
    """The queue table alone: `tasks` rows claimed and finished by `pollers` connections."""
    async with PostgresJournal(url, exclusive=False):
        pass  # the schema
    async with SharedQueue(url, connections=pollers) as queue:
        rows = [QueuedRow(f"t{i}", "g", "remote", 0, f"r{i}", {"n": i}) for i in range(tasks)]
        await queue.push(rows)
        began = time.perf_counter()

        async def poller(name: str) -> None:
            while claimed := await queue.claim("g", "remote", name, 60.0):
                assert await queue.finish(claimed[0].task_id) == "held"

        async with anyio.create_task_group() as tg:
            for i in range(pollers):
                tg.start_soon(poller, f"w{i}")
        seconds = time.perf_counter() - began
    return {"tasks": tasks, "connections": pollers, "queue_only_per_s": round(tasks / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args()
    if args.child:
        report = anyio.run(child, args.child, args.runs, args.pollers, args.lease)
        print(json.dumps(report), flush=True)
        return
    server = PostgresServer()
    server.start()
    results: dict[str, Any] = {
        "benchmark": "pg_polls", "cpus": os.cpu_count(), "python": platform.python_version(),
        "runs": args.runs, "postgresql": [],
    }  # fmt: skip
    try:
        server.sql("CREATE DATABASE ceiling TEMPLATE template0")
        results["ceilings"] = asyncio.run(
            queue_only(server.url("ceiling"), args.runs, args.pollers)
        )
        for i, n in enumerate(args.procs):
            db = f"bench_{i}"
            server.sql(f"CREATE DATABASE {db} TEMPLATE template0")
            results["postgresql"].append(asyncio.run(processes(server.url(db), n, args)))
    finally:
        server.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
