"""Tasks/s run by local workers pulling from the shared queue, on 1, 2 and 3 processes.

Issue 17 (local workers pull from the shared worker-group queues). One
*owner* process (a `Runtime(URL, lease_s=...)`, child of this script) has
no worker for the task type: it starts `--runs` one-task runs and settles,
so every task is posted to the shared queue. Then 1, 2 or 3 *puller*
processes register a local worker for the type (`--slots` slots each: an
async function that returns at once) and pull the tasks: each pull is the
same claim as a poll (global order, leases), its start and its result go to
the owner's inbox, the owner applies them and ends the runs.

`tasks_per_s` (mode `pull`): tasks run by the pullers over the time from
the workers' registration to the last one's end; `runs_done_per_s`: to
the last run's end at the owner. Beside them, on the same server in the
same run: mode `poll`, the same processes running `--slots` external
pollers each (`rt.poll` + `rt.complete`) instead of a local worker, for the
same owner; and the queue table alone (`SharedQueue.claim` + `finish`,
`bench_pg_polls`'s `queue_only_per_s`).

    .venv/bin/python -m benchmarks.bench_pg_pullers --runs 600 --procs 1 2 3
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
from benchmarks.bench_pg_polls import ONE_TASK, line, queue_only, start_runs
from tests._postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]


async def owner(url: str, runs: int, lease_s: float) -> dict[str, Any]:
    """Start `runs` runs when told (their tasks posted), then wait for all to end."""
    async with cadenza.Runtime(url, lease_s=lease_s, durability="full") as rt:
        await rt.register(ONE_TASK)
        print("up", flush=True)
        assert await line() == "start"
        ids = await start_runs(rt, runs)
        await rt.settle()
        print("ready", flush=True)
        cpu_began = time.process_time()
        ended = 0.0
        for run_id in ids:
            done = await rt.wait(run_id)
            assert done.status == "COMPLETED", done.status
            ended = max(ended, done.ended_at or 0.0)
        return {"last_run_end_at": ended, "cpu_s": time.process_time() - cpu_began}


async def puller(url: str, slots: int, lease_s: float, mode: str) -> dict[str, Any]:
    """When told, register a local worker of `slots` slots (`mode` "pull"), or run `slots`
    external pollers through `rt.poll` / `rt.complete` ("poll"); report when told to stop."""
    async with cadenza.Runtime(url, lease_s=lease_s, durability="full") as rt:
        await rt.register(ONE_TASK)
        print("up", flush=True)
        assert await line() == "go"
        cpu_began = time.process_time()
        ran = 0
        last = 0.0
        stopped = False

        async def remote(data: dict[str, Any]) -> dict[str, Any]:
            nonlocal ran, last
            ran += 1
            last = time.time()
            return {"n": data["n"]}

        async def poller() -> None:
            while not stopped:
                task = await rt.poll("remote", wait=0.2)
                if task is not None:
                    await rt.complete(task.id, await remote(task.input))

        async with anyio.create_task_group() as tg:
            if mode == "pull":
                rt.worker("remote", remote, concurrency=slots)
            else:
                for _ in range(slots):
                    tg.start_soon(poller)
            assert await line() == "stop"
            stopped = True
        return {"ran": ran, "last_ran_at": last, "cpu_s": time.process_time() - cpu_began}


async def fleet(url: str, n: int, args: argparse.Namespace, mode: str) -> dict[str, Any]:
    def spawn(role: str) -> Any:
        return asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bench_pg_pullers", "--child", url, "--role", role,
            "--runs", str(args.runs), "--slots", str(args.slots), "--lease", str(args.lease),
            "--mode", mode,
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip

    boss = await spawn("owner")
    pullers = [await spawn("worker") for _ in range(n)]

    async def say(procs: list[Any], word: bytes) -> None:
        for proc in procs:
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()

    async def hear(procs: list[Any], word: bytes) -> None:
        for proc in procs:
            assert (await proc.stdout.readline()).strip() == word

    await hear([boss, *pullers], b"up")
    await asyncio.sleep(args.lease * 1.2)  # a few heartbeat ticks: the partitions spread
    await say([boss], b"start")
    await hear([boss], b"ready")
    began = time.time()
    await say(pullers, b"go")
    ended = json.loads(await boss.stdout.readline())
    await boss.wait()
    await say(pullers, b"stop")
    reports = []
    for proc in pullers:
        reports.append(json.loads(await proc.stdout.readline()))
        await proc.wait()
    total = sum(r["ran"] for r in reports)
    pulled_s = max(r["last_ran_at"] for r in reports) - began
    runs_s = ended["last_run_end_at"] - began
    cpu_s = ended["cpu_s"] + sum(r["cpu_s"] for r in reports)
    return {"mode": mode, "worker_processes": n, "slots_per_process": args.slots, "tasks": total,
            "ran_per_process": [r["ran"] for r in reports],
            "tasks_per_s": round(total / pulled_s, 1), "runs_done_per_s": round(total / runs_s, 1),
            "client_cpu_ms_per_task": round(1000 * cpu_s / total, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=["owner", "worker"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["pull", "poll"], nargs="+", default=["pull", "poll"])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.child:
        if args.role == "owner":
            report = anyio.run(owner, args.child, args.runs, args.lease)
        else:
            report = anyio.run(puller, args.child, args.slots, args.lease, args.mode[0])
        print(json.dumps(report), flush=True)
        return
    server = PostgresServer()
    server.start()
    results: dict[str, Any] = {
        "benchmark": "pg_pullers", "cpus": os.cpu_count(), "python": platform.python_version(),
        "runs": args.runs, "postgresql": [],
    }  # fmt: skip
    try:
        server.sql("CREATE DATABASE ceiling TEMPLATE template0")
        results["ceilings"] = asyncio.run(queue_only(server.url("ceiling"), args.runs, args.slots))
        for i, (n, mode) in enumerate((n, m) for n in args.procs for m in args.mode):
            db = f"bench_{i}"
            server.sql(f"CREATE DATABASE {db} TEMPLATE template0")
            results["postgresql"].append(asyncio.run(fleet(server.url(db), n, args, mode)))
    finally:
        server.stop()
    text = json.dumps(results, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
