"""Schedules on the real clock: creation rate, idle cost, reopen time, tick precision.

Prints JSON:
- `idle`: `--schedules` schedules whose next tick is a day away: the rate they
  were created at, CPU used over `--idle-s` seconds while they all wait
  (percent of a core), timer entries pending per schedule, schedule actors
  left in memory, live memory per schedule, and the seconds a runtime takes
  to open again with them all armed (their journal rows alone, nothing loaded);
- `ticks`: `--ticking` schedules every second for `--tick-s` seconds on
  the real clock: runs started, how late each started after its tick
  (p50/p99/max), whether any was early, and whether any tick started twice.

usage: python simulations/bench_schedules.py [--schedules 10000] [--idle-s 10]
                                             [--ticking 50] [--tick-s 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cadenza

QUICK = {
    "name": "bench_tick",
    "tasks": [
        {
            "name": "note",
            "taskReferenceName": "note",
            "type": "SET_VARIABLE",
            "inputParameters": {"at": "${workflow.input._scheduledTime}"},
        }
    ],
}


async def _create(rt: cadenza.Runtime, count: int, concurrency: int = 256, **options: Any) -> float:
    pending = iter(range(count))
    began = time.perf_counter()

    async def creator() -> None:
        for i in pending:
            await rt.schedule(f"s{i}", "bench_tick", input={"schedule": f"s{i}"}, **options)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(creator)
    return time.perf_counter() - began


async def idle(db: str, count: int, idle_s: float) -> dict[str, Any]:
    """`count` daily schedules (next tick ~a day away): idle CPU, timers, memory, reopen."""
    async with cadenza.Runtime(db, seed=1) as rt:
        await rt.register(QUICK)
        start_at = rt._engine.clock.now() + 86400
        created_s = await _create(rt, count, every_s=86400.0, start_at=start_at)
        await rt.settle()
        pending = rt._engine._timer_state.pending()
        in_memory = rt._scheduler._pool.active() if rt._scheduler._pool else 0
        cpu0 = time.process_time()
        await anyio.sleep(idle_s)  # nothing is due in this window
        idle_cpu = time.process_time() - cpu0
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    async with cadenza.Runtime(db, seed=2, audit_timers=False) as rt:
        reopen_s = time.perf_counter() - began
        await rt.settle()
        gc.collect()
        live = tracemalloc.get_traced_memory()[0] - base
        armed = rt._scheduler.armed_at_open
        pending_after = rt._engine._timer_state.pending()
    tracemalloc.stop()
    return {
        "schedules": count,
        "created_per_s": round(count / created_s, 1),
        "timers_pending": pending,
        "timers_per_schedule": round(pending / count, 3),
        "schedule_actors_in_memory": in_memory,
        "idle_cpu_percent_of_a_core": round(100 * idle_cpu / idle_s, 3),
        "reopen_s": round(reopen_s, 2),
        "armed_at_reopen": armed,
        "timers_pending_after_reopen": pending_after,
        "live_bytes_per_schedule_after_reopen": round(live / count, 1),
    }


async def ticks(db: str, count: int, seconds: float) -> dict[str, Any]:
    """`count` schedules ticking every second for `seconds`: lateness of each run's start."""
    async with cadenza.Runtime(db, seed=3, durability="normal") as rt:
        await rt.register(QUICK)
        await _create(rt, count, every_s=1.0, overlap="allow_all")
        await anyio.sleep(seconds)
        for schedule in await rt.schedules():
            await rt.pause_schedule(schedule.name)
        await rt.settle()
        runs = await rt.runs(name="bench_tick", limit=100_000)
    late = sorted((r.input["_executedTime"] - r.input["_scheduledTime"]) / 1000 for r in runs)
    ticked = Counter((r.input["schedule"], r.input["_scheduledTime"]) for r in runs)
    return {
        "schedules": count,
        "runs": len(runs),
        "never_early": bool(late) and late[0] >= 0,
        "lateness_p50_ms": round(statistics.median(late) * 1000, 2) if late else None,
        "lateness_p99_ms": round(late[int(len(late) * 0.99) - 1] * 1000, 2) if late else None,
        "lateness_max_ms": round(late[-1] * 1000, 2) if late else None,
        "ticks_started_twice": sum(1 for n in ticked.values() if n > 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        result: dict[str, Any] = {}
        if args.schedules:
            result["idle"] = await idle(os.path.join(tmp, "idle.db"), args.schedules, args.idle_s)
        if args.ticking:
            result["ticks"] = await ticks(os.path.join(tmp, "ticks.db"), args.ticking, args.tick_s)
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--ticking", type=int, default=50)
    parser.add_argument("--tick-s", type=float, default=5.0)
    print(json.dumps(anyio.run(main, parser.parse_args()), indent=2))
