"""DBOS Transact's three-step workflows/s on a PostgreSQL, the yardstick for cadenza's.

Not part of cadenza's dependencies: `pip install dbos` into the venv first.
Each process is a child of this script running `DBOS(config)` on the
system database at URL with its own `executor_id`; its three-step async
workflow calls three async `@DBOS.step`s that add one, as
`bench_pg_processes`' local workers do. Once every process is up, each
starts its share of `--runs` workflows (`DBOS.start_workflow_async`, or
with `--call direct` awaited inline; at most `--inflight` in flight per
process) and waits for each result.
Throughput is the total over the time from "go" to the last workflow's end
in the slowest process; `client_cpu_ms_per_run` is the processes' own CPU.
Durability as cadenza's "full": DBOS leaves `synchronous_commit` at the
server's default (on).

`processes(url, n, args)` is used by `bench_pg_figures`; alone:

    .venv/bin/python -m benchmarks.bench_dbos --runs 600 --procs 1 2 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


async def serve(url: str, runs: int, inflight: int, call: str) -> tuple[float, float]:
    """Launch DBOS on `url`, say ready, wait for go, do `runs` workflows; (seconds, CPU s)."""
    from dbos import DBOS

    @DBOS.step()
    async def step_a(n: int) -> int:
        return n + 1

    @DBOS.step()
    async def step_b(n: int) -> int:
        return n + 1

    @DBOS.step()
    async def step_c(n: int) -> int:
        return n + 1

    @DBOS.workflow()
    async def three_steps(n: int) -> int:
        return await step_c(await step_b(await step_a(n)))

    DBOS(
        config={
            "name": "bench",
            "system_database_url": url,
            "executor_id": f"bench-{os.getpid()}",
            "log_level": "WARNING",
            "sys_db_pool_size": 32,
        }
    )
    DBOS.launch()
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        began, cpu_began = time.perf_counter(), time.process_time()
        limiter = asyncio.Semaphore(inflight)

        async def one(i: int) -> None:
            async with limiter:
                if call == "direct":  # the workflow awaited inline
                    result = await three_steps(i)
                else:  # started, then awaited through its handle (as rt.start + rt.wait)
                    handle = await DBOS.start_workflow_async(three_steps, i)
                    result = await handle.get_result()
                if result != i + 3:
                    raise AssertionError(f"workflow {i} returned {result!r}")

        await asyncio.gather(*(one(i) for i in range(runs)))
        return time.perf_counter() - began, time.process_time() - cpu_began
    finally:
        DBOS.destroy()


async def processes(url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """`n` DBOS processes on `url`, each doing its share of `args.runs`; their figures."""
    share = args.runs // n
    procs = []
    for _ in range(n):  # one at a time: the first one migrates the system database
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bench_dbos", "--child", url,
            "--runs", str(share), "--inflight", str(args.inflight),
            "--call", getattr(args, "call", "start"), cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"a DBOS process did not start: {line!r}")
        procs.append(proc)
    began = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    inner, cpu = [], 0.0
    for proc in procs:
        assert proc.stdout is not None
        figures = json.loads(await proc.stdout.readline())
        inner.append(figures["seconds"])
        cpu += figures["cpu_s"]
        await proc.wait()
    slowest = max(inner)
    return {"processes": n, "runs": share * n, "seconds": round(slowest, 3),
            "per_s": round(share * n / slowest, 1), "process_s": [round(s, 3) for s in inner],
            "wall_with_exit_s": round(time.perf_counter() - began, 3),
            "client_cpu_ms_per_run": round(1000 * cpu / (share * n), 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--call", choices=["start", "direct"], default="start",
                        help="start_workflow_async + get_result, or await the workflow inline")  # fmt: skip
    args = parser.parse_args()
    if args.child:
        seconds, cpu = asyncio.run(serve(args.child, args.runs, args.inflight, args.call))
        print(json.dumps({"seconds": seconds, "cpu_s": cpu}), flush=True)
        return
    from tests._postgres import PostgresServer

    server = PostgresServer()
    server.start()
    results: dict[str, Any] = {"benchmark": "dbos", "cpus": os.cpu_count(), "dbos": []}
    try:
        for i, n in enumerate(args.procs):
            db = f"dbos_{i}"
            server.sql(f"CREATE DATABASE {db} TEMPLATE template0")
            results["dbos"].append(asyncio.run(processes(server.url(db), n, args)))
    finally:
        server.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
