"""`cadenza bench groups`: tasks/s one worker group hands out, beside bare heapq.

Design note
-----------
One `WorkerGroup` actor (a real actor in a real `ActorSystem`, with the
runtime's `Ledger`) is filled with `--tasks` mixed-priority tasks, then
drained by polls answered one per message — the path an external worker
takes, minus the run actors (the `runs` callback returns a sink that drops
`TaskStartedMsg`). There is no public API for one group alone, so this
benchmark drives the dispatch layer directly. The same keys are pushed into
and popped from a bare `heapq` in the same process (the ceiling for any
priority queue in Python), beside the shared ceilings.

Latency: a fresh group is then fed at half the measured hand-out rate (open
loop: task i is due at `t0 + i / rate`, sent in bursts of whatever is due,
so a stall is charged to the tasks it delays — no coordinated omission),
while one consumer keeps a poll parked; enqueue-to-start is the time from a
task's due moment to the moment its poll returns it, over `--latency-tasks`.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import time
from typing import Any

from cadenza._errors import InternalError
from cadenza.actors import Actor, ActorRef, ActorSystem, RealClock
from cadenza.bench import _ceilings
from cadenza.bench._figures import percentiles_ms
from cadenza.bench._sizes import Size
from cadenza.dispatch._groups import GroupState, WorkerGroup
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import Enqueue, Poll, QueuedTask

NAME = "groups"
HELP = "tasks/s one worker group hands out vs bare heapq; enqueue-to-start latency"
SIZES = (
    Size("--tasks", 100_000, 2000, "tasks enqueued, then polled out one by one"),
    Size("--latency-tasks", 20_000, 500, "tasks fed at half the hand-out rate for latency"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags beside the size flags."""
    parser.add_argument("--seed", type=int, default=1, help="the tasks' priorities (default: 1)")


class _Sink(Actor[Any]):
    async def receive(self, message: Any) -> None:
        return None


def _tasks(n: int, seed: int) -> list[QueuedTask]:
    rng = random.Random(seed)
    return [
        QueuedTask(
            run_id=f"r{i}",
            task_id=f"r{i}-0",
            type="work",
            input={},
            priority=rng.randrange(100),
            ready_at=float(i // 100),
            attempt=0,
            ref="t",
            name="work",
            scheduled_at=0.0,
        )
        for i in range(n)
    ]


def _bare_heapq(tasks: list[QueuedTask]) -> float:
    start = time.perf_counter()
    heap: list[tuple[int, float, int, str]] = []
    for seq, task in enumerate(tasks):
        heapq.heappush(heap, (-task.priority, task.ready_at, seq, task.task_id))
    while heap:
        heapq.heappop(heap)
    return len(tasks) / max(time.perf_counter() - start, 1e-9)


def _group(system: ActorSystem, clock: RealClock) -> tuple[ActorRef[Any], Ledger]:
    sink = system.spawn(_Sink, name="sink")
    ledger = Ledger(
        clock, task_def=lambda _name: None, send_run=lambda *_: None, wake_group=lambda _g: None
    )
    ref = system.spawn(
        lambda: WorkerGroup(
            GroupState("bench"), system=system, clock=clock, runs=lambda _r: sink, ledger=ledger
        ),
        name="group",
        mailbox_size=1 << 18,
    )
    return ref, ledger


async def _rates(tasks: list[QueuedTask]) -> tuple[float, float, bool]:
    clock = RealClock()
    async with ActorSystem(clock=clock, name="bench") as system:
        ref, ledger = _group(system, clock)
        start = time.perf_counter()
        for task in tasks:
            await ref.tell(Enqueue(task))
        await system.quiescent()
        enqueue_rate = len(tasks) / max(time.perf_counter() - start, 1e-9)
        start = time.perf_counter()
        keys: list[tuple[int, float, int]] = []
        for _ in tasks:
            got: QueuedTask | None = await ref.ask(lambda r: Poll("work", "w", 0.0, r))
            if got is None:
                raise InternalError("a group with tasks queued answered a poll with none")
            keys.append((-got.priority, got.ready_at, got.seq))
            ledger.release(got.task_id)
        poll_rate = len(tasks) / max(time.perf_counter() - start, 1e-9)
    return enqueue_rate, poll_rate, keys == sorted(keys)


async def _latency(tasks: list[QueuedTask], rate: float) -> list[float]:
    """Enqueue-to-start seconds of each task, arriving at `rate` per second."""
    clock = RealClock()
    due: dict[str, float] = {}
    waits: list[float] = []
    async with ActorSystem(clock=clock, name="bench-latency") as system:
        ref, ledger = _group(system, clock)

        async def consume() -> None:
            for _ in tasks:
                got: QueuedTask | None = await ref.ask(lambda r: Poll("work", "w", 60.0, r))
                if got is None:
                    raise InternalError("a parked poll returned no task within 60 s")
                waits.append(time.perf_counter() - due[got.task_id])
                ledger.release(got.task_id)

        consumer = asyncio.ensure_future(consume())
        start = time.perf_counter()
        sent = 0
        while sent < len(tasks):
            now = time.perf_counter()
            while sent < len(tasks) and start + sent / rate <= now:
                due[tasks[sent].task_id] = start + sent / rate
                ref.tell_nowait(Enqueue(tasks[sent]))
                sent += 1
            await asyncio.sleep(0)
        await consumer
    return waits


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    heap_rate = _bare_heapq(_tasks(args.tasks, args.seed))
    enqueue_rate, poll_rate, ordered = await _rates(_tasks(args.tasks, args.seed))
    waits = await _latency(_tasks(args.latency_tasks, args.seed + 1), poll_rate / 2)
    return {
        "tasks": args.tasks,
        "group_enqueue_per_s": round(enqueue_rate),
        "group_handout_per_s": round(poll_rate),
        "handed_out_in_order": ordered,
        "handout_vs_heapq": round(poll_rate / heap_rate, 4),
        "latency_offered_per_s": round(poll_rate / 2),
        "enqueue_to_start": percentiles_ms(waits),
        "bare_heapq_push_pop_per_s": round(heap_rate),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the group, then the ceilings; see the module note."""
    figures = asyncio.run(_measure(args))
    ceilings = _ceilings.measure(0.02 if args.tiny else 1.0)
    ceilings["bare_heapq_push_pop_per_s"] = figures.pop("bare_heapq_push_pop_per_s")
    return {"figures": figures, "ceilings": ceilings}
