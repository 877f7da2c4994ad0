"""Three-step workflows/s with 1, 2 and 3 processes on one PostgreSQL, beside SQLite.

Each process is a `Runtime(URL, lease_s=...)` (a child process of this
script) with local workers for the three steps; once every process is up
and the partitions are spread (a few heartbeat ticks), each starts its
share of `--runs` runs at once (at most `--inflight` starts in flight per
process) and waits for all of them to end. Throughput is the total over
the time from "go" to the last run's end in the slowest process. In the same run, one
process on a SQLite file does the same total (`sqlite`).

`--mode poll` measures tasks/s handed out to external pollers instead: the
runs are one-task workflows whose task no local worker serves; in each
process `--pollers` coroutines `poll` and `complete` through the public
API. (A poller gets any process's task through the shared worker-group
queues: `benchmarks/bench_pg_polls.py` measures that hand-out alone.)

Prints one JSON object.

    .venv/bin/python -m benchmarks.bench_pg_processes --runs 600 --procs 1 2 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

import cadenza
from tests._postgres import PostgresServer
from tests.conftest import three_steps

ROOT = Path(__file__).resolve().parents[1]
ONE_TASK = {
    "name": "one_task",
    "tasks": [{"name": "remote", "taskReferenceName": "r", "inputParameters": {"n": "${workflow.input.n}"}}],
}  # fmt: skip


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


async def serve(path: str, runs: int, inflight: int, mode: str, pollers: int, lease_s: float,
                go: Any) -> tuple[float, float]:  # fmt: skip
    """Open a runtime on `path`, await `go()`, do `runs` runs; (seconds, CPU seconds) taken."""
    async with cadenza.Runtime(path, lease_s=lease_s, durability="full") as rt:
        await rt.register(three_steps())
        await rt.register(ONE_TASK)
        if mode == "three":
            for task_type in ("step_a", "step_b", "step_c"):
                rt.worker(task_type, add_one, concurrency=32)
        await go()
        began, cpu_began = time.perf_counter(), time.process_time()
        limiter = anyio.Semaphore(inflight)
        handed = 0

        async def one(i: int) -> None:
            async with limiter:
                name = "three_steps" if mode == "three" else "one_task"
                await rt.wait(await rt.start(name, {"n": i}))

        own_done = anyio.Event()

        async def poller() -> None:  # until this process's own runs ended: any process's
            nonlocal handed  # task may be handed here, so a count of them could stop it
            while not own_done.is_set():  # while another's runs still wait (a hang)
                task = await rt.poll("remote", wait=0.2)
                if task is not None:
                    handed += 1
                    await rt.complete(task.id, {"n": 1})

        async def all_runs() -> None:
            async with anyio.create_task_group() as tg:
                for i in range(runs):
                    tg.start_soon(one, i)
            own_done.set()

        async with anyio.create_task_group() as tg:
            if mode == "poll":
                for _ in range(pollers):
                    tg.start_soon(poller)
            tg.start_soon(all_runs)
        return time.perf_counter() - began, time.process_time() - cpu_began


def child(args: argparse.Namespace) -> None:
    async def go() -> None:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

    seconds, cpu = anyio.run(
        serve, args.child, args.runs, args.inflight, args.mode, args.pollers, args.lease, go
    )
    print(json.dumps({"seconds": seconds, "cpu_s": cpu}), flush=True)


async def processes(url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    share = args.runs // n
    procs = []
    for _ in range(n):
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bench_pg_processes", "--child", url,
            "--runs", str(share), "--inflight", str(args.inflight), "--mode", args.mode,
            "--pollers", str(args.pollers), "--lease", str(args.lease),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        ))  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
    await asyncio.sleep(args.lease * 1.2)  # a few heartbeat ticks: the partitions spread
    began = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    inner, cpu = [], 0.0
    for proc in procs:
        assert proc.stdout is not None
        line = json.loads(await proc.stdout.readline())
        inner.append(line["seconds"])
        cpu += line["cpu_s"]
        await proc.wait()
    wall = time.perf_counter() - began
    slowest = max(inner)  # from "go" to its last run's end, in the slowest process
    return {"processes": n, "runs": share * n, "seconds": round(slowest, 3),
            "per_s": round(share * n / slowest, 1), "process_s": [round(s, 3) for s in inner],
            "wall_with_exit_s": round(wall, 3),
            "client_cpu_ms_per_run": round(1000 * cpu / (share * n), 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--mode", choices=["three", "poll"], default="three")
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    server = PostgresServer()
    server.start()
    results: dict[str, Any] = {
        "benchmark": "pg_processes", "mode": args.mode, "cpus": os.cpu_count(),
        "python": platform.python_version(), "postgresql": [],
    }  # fmt: skip
    try:
        for i, n in enumerate(args.procs):
            db = f"bench_{i}"
            server.sql(f"CREATE DATABASE {db} TEMPLATE template0")
            results["postgresql"].append(asyncio.run(processes(server.url(db), n, args)))
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as folder:

        async def go() -> None:
            return None

        path = str(Path(folder) / "bench.db")
        seconds, cpu = anyio.run(
            serve, path, args.runs, args.inflight, args.mode, args.pollers, args.lease, go
        )
        results["sqlite"] = {"processes": 1, "runs": args.runs, "seconds": round(seconds, 3),
                             "per_s": round(args.runs / seconds, 1),
                             "client_cpu_ms_per_run": round(1000 * cpu / args.runs, 2)}  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
