"""`cadenza bench timers`: a storm of durable WAIT timers on the real clock.

Design note
-----------
`--timers` one-WAIT workflows (default 100,000) are armed so that all fall
due within `--due-within-s` (default 1 s), evenly, in a window that opens
`lead` seconds after arming begins. The lead must cover the arming itself,
whose pace is not known in advance (it varies with the machine's load and
slows as the journal grows). So unless `--lead-s` fixes it, a warm-up on a
scratch journal (2 % of N, at least 100 starts) measures a first pace, and
an attempt stops arming as soon as its pace so far (after the first 2 %)
projects an end past the window less the idle time; the next
attempt, on a fresh journal, takes the lead from the pace measured (x1.5,
then x2, then x3, plus the idle window and a second). The last attempt runs
to the end whatever its pace; `attempts` lists them and
`armed_before_window` says whether the last one made it.

In that order, one runtime on one fresh journal:

1. arm: every start is its own `await rt.start(...)` from `--callers`
   concurrent callers, or with `--batch` one `rt.start_many` per
   `--batch-size` inputs ("unavailable" if this Runtime lacks it) — the
   arming rate is timers/s from the first start to the last start's return;
2. park: once `rt.settle()` says all is durable, memory per parked run is
   the growth of the process's resident memory since before arming, less
   what the benchmark itself keeps per run (its id and duration), / N —
   from the first attempt, over the runs it armed (a later attempt reuses
   the memory an earlier one freed, so its resident memory barely grows);
   beside it, the live memory per parked run: what `tracemalloc` traces
   still allocated once `--memory-runs` runs armed the same way on a fresh
   runtime are parked, / their number (a pass of its own, as tracing slows
   arming; resident memory also holds the allocator's high-water mark of
   the arming, which a larger N spreads thinner);
3. idle: CPU used over `--idle-s` wall seconds with everything parked,
   as a percentage of one core (shortened if the window would open);
4. fire: each WAIT's deadline is its task's `scheduled_at` plus its
   duration, exactly (its duration is computed when its start is called, so
   the start's latency widens the window: `window_s` is the spread armed); lateness is measured against it at the completion
   event (`ended_at`, read back with `rt.get`) and once the run's end is
   durable. "None early" means no completion event precedes its deadline.
   Whatever has not fired `--give-up-s` after the window is counted as
   `unfinished` and left out of the percentiles (a benchmark reports, it
   does not crash).

The ceiling beside it: the same number of bare `loop.call_at` timers on the
same schedule (their arming rate and lateness), plus the shared ceilings.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

import cadenza
from cadenza.bench import _ceilings, _probe
from cadenza.bench._figures import percentiles_ms, rss_bytes
from cadenza.bench._sizes import Size, positive_float

NAME = "timers"
HELP = "N WAIT workflows due within a second: lateness, arming rate, memory, idle CPU"
WORKFLOW = "bench_wait"
DEFINITION = {
    "name": WORKFLOW,
    "tasks": [
        {
            "name": "w",
            "taskReferenceName": "w",
            "type": "WAIT",
            "inputParameters": {"duration": "${workflow.input.s}"},
        }
    ],
}
SIZES = (
    Size("--timers", 100_000, 200, "WAIT workflows, all due within the window"),
    Size("--due-within-s", 1.0, 1.0, "the window they fall due in, seconds", positive_float),
    Size("--idle-s", 3.0, 0.5, "seconds of idle CPU measured while all are parked", positive_float),
    Size("--callers", 512, 32, "concurrent callers, each awaiting its own rt.start"),
    Size("--batch-size", 1000, 50, "inputs per rt.start_many call (with --batch)"),
    Size("--give-up-s", 300.0, 60.0, "seconds after the window to stop waiting", positive_float),
    Size("--memory-runs", 5000, 100, "runs armed and parked under tracemalloc for live memory"),
)
READERS = 16  # concurrent rt.get calls reading the completion events back
LEAD_FACTORS = (1.5, 2.0, 3.0)  # lead = factor x the arming time the pace predicts (+ idle + 1 s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags beside the size flags."""
    parser.add_argument("--batch", action="store_true", help="arm with rt.start_many")
    parser.add_argument(
        "--lead-s",
        type=positive_float,
        default=None,
        help="seconds from arming to the window, one attempt (default: from the arming pace)",
    )


@dataclass
class _Arming:
    durations: dict[str, float]  # run id -> its WAIT's duration
    seconds: float
    aborted: bool  # stopped early: at its pace it would not have finished before the window


async def _arm(
    rt: cadenza.Runtime,
    args: argparse.Namespace,
    count: int,
    seconds: Callable[[int], float],
    finish_by: float | None,
) -> _Arming:
    """Start `count` WAIT runs, run i waiting `seconds(i)` from its start.

    With `finish_by` (a `time.perf_counter()` reading), arming stops early once
    its pace so far (after the first 2 %, at least 50) projects an end past it.
    """
    durations: dict[str, float] = {}
    began = time.perf_counter()
    stopped = [False]

    def on_track() -> bool:
        armed = len(durations)
        if finish_by is not None and not stopped[0] and armed >= max(50, count // 50):
            stopped[0] = began + (time.perf_counter() - began) * count / armed > finish_by
        return not stopped[0]

    if args.batch:
        start_many = _probe.start_many(rt)
        chunks = iter(range(0, count, args.batch_size))

        async def batcher() -> None:
            for first in chunks:
                if not on_track():
                    return
                numbers = range(first, min(first + args.batch_size, count))
                waits = [seconds(i) for i in numbers]
                ids = await start_many(WORKFLOW, [{"s": s} for s in waits])
                durations.update(zip(ids, waits, strict=True))

        async with anyio.create_task_group() as tg:
            for _ in range(min(4, count // args.batch_size + 1)):
                tg.start_soon(batcher)
    else:
        numbers = iter(range(count))

        async def caller() -> None:
            for i in numbers:
                if not on_track():
                    return
                wait = seconds(i)
                durations[await rt.start(WORKFLOW, {"s": wait})] = wait

        async with anyio.create_task_group() as tg:
            for _ in range(min(args.callers, count)):
                tg.start_soon(caller)
    return _Arming(durations, max(time.perf_counter() - began, 1e-9), stopped[0])


async def _warmup_pace(args: argparse.Namespace, db: str) -> float:
    """Timers armed per second on a scratch journal (2 % of N, at least 100, far-future WAITs)."""
    count: int = min(args.timers, max(100, args.timers // 50))
    async with cadenza.Runtime(db, seed=2) as rt:
        await rt.register(DEFINITION)
        arming = await _arm(rt, args, count, lambda _i: 86_400.0, None)
    return count / arming.seconds


async def _read_back(
    rt: cadenza.Runtime, durations: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """{run_id: (deadline, completion event time)} of every run's WAIT, read through `rt.get`."""
    pairs: dict[str, tuple[float, float]] = {}
    ids = iter(durations)

    async def reader() -> None:
        for run_id in ids:
            task = (await rt.get(run_id)).tasks[0]
            deadline = task.scheduled_at + durations[run_id]
            ended = task.ended_at if task.ended_at is not None else float("inf")
            pairs[run_id] = (deadline, ended)

    async with anyio.create_task_group() as tg:
        for _ in range(READERS):
            tg.start_soon(reader)
    return pairs


def _bookkeeping_bytes(durations: dict[str, float]) -> int:
    """What the benchmark itself holds per run (its id and duration), left out of the memory figure."""
    return sys.getsizeof(durations) + sum(
        sys.getsizeof(run_id) + sys.getsizeof(seconds) for run_id, seconds in durations.items()
    )


def _per_run(before: int | None, after: int | None, durations: dict[str, float]) -> float | None:
    """Resident memory grown per armed run, less the benchmark's own bookkeeping (None off Linux)."""
    if before is None or after is None or not durations:
        return None
    return round((after - before - _bookkeeping_bytes(durations)) / len(durations), 1)


async def _storm(
    args: argparse.Namespace, db: str, lead_s: float, may_abort: bool
) -> dict[str, Any]:
    count, window = args.timers, args.due_within_s
    async with cadenza.Runtime(db, seed=1) as rt:
        await rt.register(DEFINITION)
        durable_at: dict[str, float] = {}
        all_done = anyio.Event()

        def finished(run_id: str, status: str, at: float) -> None:
            durable_at[run_id] = _probe.now(rt)
            if len(durable_at) == count:
                all_done.set()

        _probe.on_finished(rt, finished)
        gc.collect()
        rss_before = rss_bytes()
        base = _probe.now(rt) + lead_s
        finish_by = time.perf_counter() + lead_s - args.idle_s - 0.5 if may_abort else None
        arming = await _arm(
            rt,
            args,
            count,
            lambda i: max(0.0, base + window * i / count - _probe.now(rt)),
            finish_by,
        )
        durations, armed_s = arming.durations, arming.seconds
        armed_before_window = _probe.now(rt) < base
        await rt.settle()
        gc.collect()
        memory = _per_run(rss_before, rss_bytes(), durations)
        if arming.aborted:
            return {
                "aborted": True,
                "arming_per_s": round(len(durations) / armed_s, 1),
                "rss_bytes_per_parked_run": memory,
                "memory_measured_over": len(durations),
            }
        idle_s = min(args.idle_s, base - _probe.now(rt) - 0.2)
        idle_cpu_percent = None
        if idle_s > 0:
            cpu = time.process_time()
            await anyio.sleep(idle_s)  # the benchmark's own wall window: nothing is due in it
            idle_cpu_percent = round(100 * (time.process_time() - cpu) / idle_s, 3)
        with anyio.move_on_after(max(0.0, base - _probe.now(rt)) + window + args.give_up_s):
            await all_done.wait()
        pairs = await _read_back(rt, durations)
    deadlines = [deadline for deadline, _ in pairs.values()]
    event_late = [ended - deadline for deadline, ended in pairs.values() if ended < float("inf")]
    durable_late = [
        durable_at[run_id] - deadline
        for run_id, (deadline, _) in pairs.items()
        if run_id in durable_at
    ]
    return {
        "timers": count,
        "arming": f"rt.start_many, {args.batch_size} a call"
        if args.batch
        else f"rt.start from {args.callers} callers",
        "armed_in_s": round(armed_s, 3),
        "arming_per_s": round(count / armed_s, 1),
        "armed_before_window": armed_before_window,
        "lead_s": round(lead_s, 2),
        "window_s": round(max(deadlines) - min(deadlines), 3),
        "fired": len(event_late),
        "unfinished": count - len(event_late),
        "none_early": min(event_late, default=0.0) >= 0,
        "early": sum(1 for late in event_late if late < 0),
        "lateness_event": percentiles_ms(event_late),
        "lateness_durable": percentiles_ms(durable_late),
        "rss_bytes_per_parked_run": memory,
        "memory_measured_over": count,
        "idle_s": round(max(idle_s, 0.0), 2),
        "idle_cpu_percent_of_a_core": idle_cpu_percent,
    }


async def _live_memory(args: argparse.Namespace, db: str) -> float:
    """Bytes still allocated per run once `--memory-runs` far-future WAIT runs are parked."""
    count: int = args.memory_runs
    async with cadenza.Runtime(db, seed=3) as rt:
        await rt.register(DEFINITION)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            arming = await _arm(rt, args, count, lambda _i: 86_400.0, None)
            await rt.settle()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    return round((grown - _bookkeeping_bytes(arming.durations)) / count, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Storm (retrying with a longer lead if arming falls behind), then the ceilings."""
    if args.batch and not _probe.has_start_many(cadenza.Runtime):
        figures: dict[str, Any] = {"arming": "rt.start_many", "start_many": "unavailable"}
        return {"figures": figures, "ceilings": _ceilings.measure(0.02 if args.tiny else 1.0)}
    attempts: list[dict[str, Any]] = []
    first_memory: dict[
        str, Any
    ] = {}  # later attempts reuse memory the first freed: RSS would not grow
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        pace = 1.0 if args.lead_s else anyio.run(_warmup_pace, args, os.path.join(tmp, "warm.db"))
        for attempt, factor in enumerate(LEAD_FACTORS):
            last = args.lead_s is not None or attempt == len(LEAD_FACTORS) - 1
            lead_s = args.lead_s or factor * args.timers / pace + args.idle_s + 1.0
            db = os.path.join(tmp, f"storm-{attempt}.db")
            figures = anyio.run(_storm, args, db, lead_s, not last)
            attempts.append({"lead_s": round(lead_s, 2), "aborted": "aborted" in figures})
            first_memory = first_memory or figures
            if "aborted" not in figures:
                break
            pace = figures["arming_per_s"]
        figures["attempts"] = attempts
        for key in ("rss_bytes_per_parked_run", "memory_measured_over"):
            figures[key] = first_memory[key]
        figures["live_bytes_per_parked_run"] = anyio.run(
            _live_memory, args, os.path.join(tmp, "memory.db")
        )
        figures["live_memory_measured_over"] = args.memory_runs
    ceilings = _ceilings.measure(0.02 if args.tiny else 1.0)
    ceilings["loop_call_at_same_schedule"] = anyio.run(
        _ceilings.call_at_timers, args.timers, args.due_within_s
    )
    return {"figures": figures, "ceilings": ceilings}
