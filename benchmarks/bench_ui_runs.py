"""The dashboard's runs list with 100,000 runs in the journal: how long its first page takes.

Fills a SQLite journal with `--runs` real runs (started through the
`Runtime`; nine in ten complete at once through a SET_VARIABLE task, one in
ten waits on a SIMPLE task no worker takes, so both statuses are large),
reopens it as `cadenza serve` would (recovery included), then times the
dashboard's requests through `create_app(rt)` in this process (ASGI, no
socket): the first page of the runs list unfiltered and under each filter,
a deep page, the htmx poll fragment, and one run's page. Each figure is the
median and the worst of `--repeat` requests, next to the one-second ceiling
issue 16 sets. Prints one JSON object.

    .venv/bin/python benchmarks/bench_ui_runs.py --runs 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

import cadenza
from cadenza.http import create_app

CEILING_S = 1.0
DONE = {
    "name": "bench_done",
    "version": 1,
    "tasks": [{"name": "set", "taskReferenceName": "set", "type": "SET_VARIABLE", "inputParameters": {"n": "${workflow.input.n}"}}],
}  # fmt: skip
WAITING = {
    "name": "bench_wait",
    "version": 1,
    "tasks": [{"name": "never_polled", "taskReferenceName": "work", "type": "SIMPLE"}],
}  # fmt: skip


async def fill(db: str, runs: int, concurrency: int) -> float:
    started = time.perf_counter()
    async with cadenza.Runtime(db, durability="normal") as rt:
        await rt.register(DONE)
        await rt.register(WAITING)
        numbers = iter(range(runs))

        async def starter() -> None:
            for n in numbers:
                name = "bench_wait" if n % 10 == 0 else "bench_done"
                await rt.start(name, {"n": n}, correlation_id=f"order-{n % 5000}", key=f"k{n}")

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(starter)
        await rt.settle()
    return time.perf_counter() - started


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> dict[str, Any]:
    took = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = await client.get(path)
        took.append(time.perf_counter() - t0)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:200]}")
    return {
        "path": path,
        "median_ms": round(statistics.median(took) * 1000, 2),
        "worst_ms": round(max(took) * 1000, 2),
        "under_ceiling": max(took) < CEILING_S,
    }


async def measure(db: str, repeat: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    async with cadenza.Runtime(db) as rt:
        opened_s = time.perf_counter() - t0
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            first = (await client.get("/ui/?size=1&status=RUNNING")).text
            run_id = first.split('data-run-id="', 1)[1].split('"', 1)[0]
            paths = [
                "/ui/",
                "/ui/runs/table",
                "/ui/?status=RUNNING",
                "/ui/?status=COMPLETED",
                "/ui/?name=bench_wait",
                "/ui/?correlation_id=order-42",
                "/ui/?key=k777",
                f"/ui/?id={run_id[:8]}",
                "/ui/?page=2000",
                f"/ui/runs/{run_id}",
            ]
            results = [await timed(client, path, repeat) for path in paths]
    return {"open_s": round(opened_s, 2), "requests": results}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--db", help="a journal to reuse (filled when missing)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "journal.db")
        exists = await anyio.Path(db).exists()
        fill_s = None if exists else await fill(db, args.runs, args.concurrency)
        measured = await measure(db, args.repeat)
        report = {
            "benchmark": "ui_runs_list",
            "runs": args.runs,
            "fill_s": None if fill_s is None else round(fill_s, 1),
            "journal_mb": round((await anyio.Path(db).stat()).st_size / 2**20, 1),
            "ceiling_ms": CEILING_S * 1000,
            **measured,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    anyio.run(main)
