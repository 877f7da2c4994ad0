"""Durable timers on the real clock: precision, arming rate, idle cost, memory, recovery.

Prints JSON:
- `due_window`: N one-WAIT workflows falling due within a 1 s window — wake-up
  lateness p50/p99/max (event time, and durable: once the completion is
  committed), beside raw `loop.call_at` lateness for the same schedule,
  measured in the same run;
- `arming`: durable timers armed per second (a WAIT run's start journals it);
- `idle`: CPU used over `--idle-s` seconds with `--pending` far-future timers
  pending, and memory (RSS) per pending, passivated workflow;
- `recovery`: seconds to open the runtime again with them all pending.

usage: python simulations/bench_timers.py [--due 100000] [--pending 100000] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cadenza

WAIT_UNTIL = {
    "name": "bench_wait",
    "tasks": [
        {
            "name": "w",
            "taskReferenceName": "w",
            "type": "WAIT",
            "inputParameters": {"duration": "${workflow.input.s}"},
        }
    ],
}


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(values[int(len(values) * 0.99) - 1] * 1000, 3),
        "max_ms": round(values[-1] * 1000, 3),
    }


async def _start_all(
    rt: cadenza.Runtime, inputs: list[dict[str, Any]], concurrency: int = 512
) -> float:
    """Start one run per input with `concurrency` starters: a bounded pool, not a task per run."""
    pending = iter(inputs)
    began = time.perf_counter()

    async def starter() -> None:
        for data in pending:
            await rt.start("bench_wait", data)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(starter)
    return time.perf_counter() - began


async def due_window(db: str, count: int, lead_s: float) -> dict[str, Any]:
    """`count` WAITs due evenly over one second, `lead_s` after their arming began.

    A WAIT's deadline is its start event's time plus its duration; lateness is
    measured against exactly that, at the completion event (`ended_at`) and
    once the completion is durable (when the run's listener is called).
    """
    async with cadenza.Runtime(db, seed=1) as rt:
        await rt.register(WAIT_UNTIL)
        base = rt._engine.clock.now() + lead_s
        durations: dict[str, float] = {}
        durable_at: dict[str, float] = {}
        done = anyio.Event()

        def finished(run_id: str, status: str, at: float) -> None:
            durable_at[run_id] = rt._engine.clock.now()
            if len(durable_at) == count:
                done.set()

        rt._engine.add_listener(finished)
        limiter = anyio.Semaphore(512)
        began = time.perf_counter()

        async def start(i: int) -> None:
            async with limiter:
                seconds = base + i / count - rt._engine.clock.now()
                durations[await rt.start("bench_wait", {"s": seconds})] = seconds

        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(start, i)
        armed_s = time.perf_counter() - began
        if rt._engine.clock.now() > base:
            raise SystemExit(f"arming took {armed_s:.1f}s, past the window: raise --lead-s")
        with anyio.fail_after(lead_s + 120):
            await done.wait()
        event_late: list[float] = []
        durable_late: list[float] = []
        for run_id, seconds in durations.items():
            task = (await rt.get(run_id)).tasks[0]
            deadline = task.scheduled_at + seconds
            event_late.append((task.ended_at or 0) - deadline)
            durable_late.append(durable_at[run_id] - deadline)
    return {
        "timers": count,
        "armed_in_s": round(armed_s, 2),
        "arming_per_s": round(count / armed_s, 1),
        "never_early": min(event_late) >= 0,
        "lateness_event": _percentiles(event_late),
        "lateness_durable": _percentiles(durable_late),
    }


async def raw_call_at(count: int) -> dict[str, float]:
    """The same schedule on bare `loop.call_at`: the floor for lateness."""
    loop = asyncio.get_running_loop()
    base = loop.time() + 0.5
    late: list[float] = []
    finished = asyncio.Event()

    def fire(due: float) -> None:
        late.append(loop.time() - due)
        if len(late) == count:
            finished.set()

    for i in range(count):
        due = base + i / count
        loop.call_at(due, fire, due)
    await finished.wait()
    return _percentiles(late)


async def idle_and_recovery(db: str, pending: int, idle_s: float) -> dict[str, Any]:
    """Arm `pending` far-future WAITs; idle CPU; then reopen: recovery time, live memory, audit time."""
    async with cadenza.Runtime(db, seed=2) as rt:
        await rt.register(WAIT_UNTIL)
        armed_s = await _start_all(rt, [{"s": 86400 + i % 3600} for i in range(pending)])
        await rt.settle()
        active = rt._engine._runs.active()
        cpu0 = time.process_time()
        await anyio.sleep(idle_s)  # the benchmark's own wall-clock window: nothing is due in it
        idle_cpu = time.process_time() - cpu0
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    async with cadenza.Runtime(db, seed=3, audit_timers=False) as rt:
        recovery_s = time.perf_counter() - began
        await rt.settle()
        gc.collect()
        live = tracemalloc.get_traced_memory()[0] - base
        parked = rt._engine.parked_at_open
    tracemalloc.stop()
    began = time.perf_counter()
    async with cadenza.Runtime(db, seed=4) as rt:
        opened_s = time.perf_counter() - began
        await rt.settle()
        audit_s = time.perf_counter() - began
        audited, repaired = rt._engine.timers_audited, rt._engine.timers_repaired
    return {
        "pending": pending,
        "arming_per_s": round(pending / armed_s, 1),
        "actors_in_memory_while_pending": active,
        "idle_cpu_percent_of_a_core": round(100 * idle_cpu / idle_s, 3),
        "live_bytes_per_pending_workflow": round(live / pending, 1),
        "recovery_s": round(recovery_s, 2),
        "recovered_parked": parked,
        "open_with_audit_s": round(opened_s, 2),
        "audit_done_s": round(audit_s, 2),
        "audited": audited,
        "repaired": repaired,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        result: dict[str, Any] = {}
        if args.due:
            result["due_window"] = await due_window(
                os.path.join(tmp, "due.db"), args.due, args.lead_s
            )
            result["due_window"]["raw_loop_call_at_lateness"] = await raw_call_at(args.due)
        if args.pending:
            result["idle"] = await idle_and_recovery(
                os.path.join(tmp, "idle.db"), args.pending, args.idle_s
            )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument(
        "--lead-s", type=float, default=60.0, help="seconds between arming and the window"
    )
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    print(json.dumps(anyio.run(main, parser.parse_args()), indent=2))
