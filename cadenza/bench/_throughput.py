"""`cadenza bench throughput`: three-step workflows with no-op local workers.

Every workflow is three SIMPLE tasks run by local workers that return at
once, on a fresh SQLite journal at `--durability` (default "full"). The
workflows are started one of two ways:

- callers (the default): every start is its own `await rt.start(...)`,
  from `--callers` concurrent callers (each waits for its start's commit);
- `--batch`: `rt.start_many(name, inputs, keys=...)` in batches of
  `--batch-size`, if this Runtime has it (otherwise the figures say
  "unavailable").

Figures: workflows/s from the first start to the last run's durable end,
CPU ms per workflow (the process's, so the engine's whole cost), start-to-done
p50/p99/max (a start's call to its run's durable end), journal records and
commits. Ceilings, measured in the same run: see `_ceilings`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import anyio

import cadenza
from cadenza.bench import _ceilings, _probe
from cadenza.bench._figures import CollectorTime, percentiles_ms
from cadenza.bench._sizes import Size

NAME = "throughput"
HELP = "three-step durable workflows/s with no-op local workers"
WORKFLOW = "bench_three_steps"
DEFINITION = {
    "name": WORKFLOW,
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
SIZES = (
    Size("--workflows", 5000, 60, "workflows to run"),
    Size("--callers", 1000, 20, "concurrent callers, each awaiting its own rt.start"),
    Size("--batch-size", 1000, 20, "inputs per rt.start_many call (with --batch)"),
    Size("--concurrency", 64, 8, "local workers per task type"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags beside the size flags."""
    parser.add_argument(
        "--batch", action="store_true", help="start with rt.start_many instead of rt.start"
    )
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument(
        "--metrics", default="on", choices=["on", "off"], help="keep rt.metrics (default: on)"
    )
    parser.add_argument(
        "--gc",
        default="tuned",
        choices=["tuned", "default"],
        help="Runtime(gc_tuning=...): tuned (the default) or CPython's defaults",
    )


async def _noop(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data.get("n")}


async def _start_callers(
    rt: cadenza.Runtime, workflows: int, callers: int, started_at: dict[str, float]
) -> None:
    numbers = iter(range(workflows))

    async def caller() -> None:
        for n in numbers:
            began = time.perf_counter()
            started_at.setdefault(await rt.start(WORKFLOW, {"n": n}), began)

    async with anyio.create_task_group() as tg:
        for _ in range(min(callers, workflows)):
            tg.start_soon(caller)


async def _start_batches(
    rt: cadenza.Runtime, workflows: int, callers: int, size: int, started_at: dict[str, float]
) -> None:
    chunks = iter(range(0, workflows, size))
    start_many = _probe.start_many(rt)

    async def caller() -> None:
        for first in chunks:
            numbers = range(first, min(first + size, workflows))
            began = time.perf_counter()
            ids = await start_many(
                WORKFLOW, [{"n": n} for n in numbers], keys=[f"bench-{n}" for n in numbers]
            )
            for run_id in ids:
                started_at.setdefault(run_id, began)

    async with anyio.create_task_group() as tg:
        for _ in range(max(1, min(callers, workflows // size + 1))):
            tg.start_soon(caller)


async def measure(
    db: str,
    *,
    workflows: int,
    callers: int = 1000,
    concurrency: int = 64,
    durability: str = "full",
    metrics: bool = True,
    batch_size: int | None = None,
    gc_tuning: bool = True,
) -> dict[str, Any]:
    """Run `workflows` three-step workflows on a fresh journal at `db`; the figures.

    Started by `callers` concurrent `rt.start` callers, or with `batch_size`
    by `rt.start_many` (figures `{"start_many": "unavailable"}` if absent).
    `gc_s` is the time the cyclic collector took during the measurement.
    """
    options: dict[str, Any] = {} if gc_tuning else {"gc_tuning": False}
    async with cadenza.Runtime(
        db, durability=durability, seed=1, metrics=None if metrics else False, **options
    ) as rt:
        if batch_size is not None and not _probe.has_start_many(rt):
            return {"mode": "batch", "start_many": "unavailable"}
        await rt.register(DEFINITION)
        for name in ("noop_a", "noop_b", "noop_c"):
            rt.worker(name, _noop, concurrency=concurrency)
        started_at: dict[str, float] = {}
        ended: dict[str, float] = {}
        all_done = anyio.Event()

        def finished(run_id: str, status: str, at: float) -> None:
            ended[run_id] = time.perf_counter()
            if len(ended) == workflows:
                all_done.set()

        _probe.on_finished(rt, finished)
        records_before, commits_before = _probe.journal_counts(rt)
        collector = CollectorTime()
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        if batch_size is not None:
            await _start_batches(rt, workflows, callers, batch_size, started_at)
        else:
            await _start_callers(rt, workflows, callers, started_at)
        starts_s = time.perf_counter() - wall_before
        with anyio.fail_after(600):
            await all_done.wait()
        wall = max(time.perf_counter() - wall_before, 1e-9)
        cpu = time.process_time() - cpu_before
        gc_s = collector.stop()
        records, commits = _probe.journal_counts(rt)
        records, commits = records - records_before, commits - commits_before
    latencies = [ended[run_id] - began for run_id, began in started_at.items()]
    return {
        "mode": f"rt.start_many, {batch_size} a call"
        if batch_size is not None
        else f"rt.start from {callers} callers",
        "durability": durability,
        "metrics": metrics,
        "gc_tuning": gc_tuning,
        "workflows": workflows,
        "workflows_per_s": round(workflows / wall, 1),
        "starts_per_s": round(workflows / max(starts_s, 1e-9), 1),
        "cpu_ms_per_workflow": round(cpu * 1000 / workflows, 3),
        "start_to_done": percentiles_ms(latencies),
        "journal_records_per_s": round(records / wall, 1),
        "records_per_workflow": round(records / workflows, 2),
        "records_per_commit": round(records / max(1, commits), 1),
        "wall_s": round(wall, 3),
        "gc_s": round(gc_s, 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the figures, then the ceilings; see the module note."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        figures = anyio.run(
            lambda: measure(
                os.path.join(tmp, "bench.db"),
                workflows=args.workflows,
                callers=args.callers,
                concurrency=args.concurrency,
                durability=args.durability,
                metrics=args.metrics == "on",
                batch_size=args.batch_size if args.batch else None,
                gc_tuning=args.gc == "tuned",
            )
        )
    ceilings = _ceilings.measure(0.02 if args.tiny else 1.0, args.durability)
    return {"figures": figures, "ceilings": ceilings}
