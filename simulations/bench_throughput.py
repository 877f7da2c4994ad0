"""Throughput of three-step workflows with no-op local workers, durability="full".

Prints JSON: workflows/s, journal records/s, start-to-done p50/p99, CPU ms
per workflow, peak RSS — and, measured in the same run, the ceilings they
are held against (raw sqlite3 batch inserts and single commits per second,
an asyncio.Queue's message rate).

usage: python simulations/bench_throughput.py [--workflows N] [--durability full|normal]
       [--metrics on|off]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cadenza
from simulations._baselines import (
    asyncio_queue_messages_per_s,
    sqlite_batch_insert_rows_per_s,
    sqlite_commits_per_s,
)

DEFINITION = {
    "name": "bench_three_steps",
    "tasks": [
        {
            "name": "noop_a",
            "taskReferenceName": "a",
            "inputParameters": {"n": "${workflow.input.n}"},
        },
        {"name": "noop_b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
        {"name": "noop_c", "taskReferenceName": "c", "inputParameters": {"n": "${b.output.n}"}},
    ],
}


async def noop(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data.get("n")}


async def bench(
    workflows: int, durability: str, starters: int, concurrency: int, metrics: bool = True
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        async with cadenza.Runtime(
            os.path.join(tmp, "bench.db"), durability=durability, seed=1, metrics=metrics
        ) as rt:
            await rt.register(DEFINITION)
            for name in ("noop_a", "noop_b", "noop_c"):
                rt.worker(name, noop, concurrency=concurrency)
            started_at: dict[str, float] = {}
            latencies: list[float] = []
            all_done = anyio.Event()

            def finished(run_id: str, status: str, at: float) -> None:
                latencies.append(time.perf_counter() - started_at[run_id])
                if len(latencies) == workflows:
                    all_done.set()

            rt._engine.add_listener(finished)
            limiter = anyio.Semaphore(starters)
            records_before = rt._engine.journal.stats.records
            cpu_before = time.process_time()
            wall_before = time.perf_counter()

            async def start(n: int) -> None:
                async with limiter:
                    t0 = time.perf_counter()
                    run_id = await rt.start("bench_three_steps", {"n": n})
                    started_at.setdefault(run_id, t0)

            async with anyio.create_task_group() as tg:
                for n in range(workflows):
                    tg.start_soon(start, n)
            await all_done.wait()
            wall = time.perf_counter() - wall_before
            cpu = time.process_time() - cpu_before
            records = rt._engine.journal.stats.records - records_before
            commits = rt._engine.journal.stats.commits
    latencies.sort()
    return {
        "workflows": workflows,
        "durability": durability,
        "workflows_per_s": round(workflows / wall, 1),
        "journal_records_per_s": round(records / wall, 1),
        "records_per_workflow": round(records / workflows, 2),
        "records_per_commit": round(records / max(1, commits), 1),
        "start_to_done_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "start_to_done_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "cpu_ms_per_workflow": round(cpu * 1000 / workflows, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=5000)
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument("--starters", type=int, default=1000, help="concurrent rt.start callers")
    parser.add_argument("--concurrency", type=int, default=64, help="local workers per task type")
    parser.add_argument("--metrics", default="on", choices=["on", "off"], help="rt.metrics kept")
    parser.add_argument(
        "--loop",
        default="asyncio",
        choices=["asyncio", "uvloop"],
        help="the event loop (uvloop if installed)",
    )
    args = parser.parse_args()
    result = {
        "cadenza": anyio.run(
            bench,
            args.workflows,
            args.durability,
            args.starters,
            args.concurrency,
            args.metrics == "on",
        )
    }
    synchronous = "FULL" if args.durability == "full" else "NORMAL"
    result["ceilings"] = {
        "sqlite_executemany_rows_per_s_batch_1000": round(
            sqlite_batch_insert_rows_per_s(synchronous=synchronous)
        ),
        "sqlite_single_row_commits_per_s": round(sqlite_commits_per_s(synchronous=synchronous)),
        "asyncio_queue_messages_per_s": round(asyncio_queue_messages_per_s()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
