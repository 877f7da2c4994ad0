"""Benchmark: tasks/s one worker group hands out, beside bare heapq, in the same run.

Design note
-----------
One `WorkerGroup` actor (a real actor in a real `ActorSystem`, with the
runtime's `Ledger`) is filled with N mixed-priority tasks, then drained by
polls answered one per message — the path an external worker takes, minus
the run actors (the `runs` callback returns a sink that drops
`TaskStartedMsg`). The same N keys are pushed into and popped from a bare
`heapq` in the same process, so the ratio is comparable across machines.

Latency: a fresh group is then fed at half the measured hand-out rate
(open loop: task i is due at `t0 + i / rate`, sent in bursts of whatever is
due, so a stall is charged to the tasks it delays — no coordinated
omission), while one consumer keeps a poll parked; enqueue-to-start is the
time from a task's due moment to the moment its poll returns it. p50/p99
over `--latency-n` tasks (wall clock: this is a benchmark, not a test).
Prints one JSON object. Usage: `python -m simulations.bench_groups [-n N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import time
from typing import Any

from cadenza.actors import Actor, ActorSystem, RealClock
from cadenza.dispatch._groups import GroupState, WorkerGroup
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import Enqueue, Poll, QueuedTask


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


def bare_heapq(tasks: list[QueuedTask]) -> float:
    start = time.perf_counter()
    heap: list[tuple[int, float, int, str]] = []
    for seq, task in enumerate(tasks):
        heapq.heappush(heap, (-task.priority, task.ready_at, seq, task.task_id))
    while heap:
        heapq.heappop(heap)
    return len(tasks) / (time.perf_counter() - start)


async def group_rate(tasks: list[QueuedTask]) -> tuple[float, float, bool]:
    clock = RealClock()
    async with ActorSystem(clock=clock, name="bench") as system:
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
        start = time.perf_counter()
        for task in tasks:
            await ref.tell(Enqueue(task))
        await system.quiescent()
        enqueue_rate = len(tasks) / (time.perf_counter() - start)
        start = time.perf_counter()
        keys: list[tuple[int, float, int]] = []
        for _ in tasks:
            got: QueuedTask | None = await ref.ask(lambda r: Poll("work", "w", 0.0, r))
            assert got is not None
            keys.append((-got.priority, got.ready_at, got.seq))
            ledger.release(got.task_id)
        poll_rate = len(tasks) / (time.perf_counter() - start)
        ordered = keys == sorted(keys)
    return enqueue_rate, poll_rate, ordered


async def latency(tasks: list[QueuedTask], rate: float) -> tuple[float, float]:
    """p50 and p99 enqueue-to-start seconds with tasks arriving at `rate` per second."""
    clock = RealClock()
    due: dict[str, float] = {}
    waits: list[float] = []
    async with ActorSystem(clock=clock, name="bench-latency") as system:
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

        async def consume() -> None:
            for _ in tasks:
                got: QueuedTask | None = await ref.ask(lambda r: Poll("work", "w", 60.0, r))
                assert got is not None
                waits.append(time.perf_counter() - due[got.task_id])
                ledger.release(got.task_id)

        consumer = asyncio.ensure_future(consume())
        start = time.perf_counter()
        sent = 0
        while sent < len(tasks):
            now = time.perf_counter()
            while sent < len(tasks) and start + sent / rate <= now:
                task = tasks[sent]
                due[task.task_id] = start + sent / rate
                ref.tell_nowait(Enqueue(task))
                sent += 1
            await asyncio.sleep(0)
        await consumer
    waits.sort()
    return waits[len(waits) // 2], waits[min(len(waits) - 1, int(len(waits) * 0.99))]


async def main(n: int, seed: int, latency_n: int) -> None:
    tasks = _tasks(n, seed)
    heap_rate = bare_heapq(_tasks(n, seed))
    enqueue_rate, poll_rate, ordered = await group_rate(tasks)
    p50_s, p99_s = await latency(_tasks(min(n, latency_n), seed + 1), poll_rate / 2)
    print(
        json.dumps(
            {
                "tasks": n,
                "group_enqueue_per_s": round(enqueue_rate),
                "group_handout_per_s": round(poll_rate),
                "bare_heapq_push_pop_per_s": round(heap_rate),
                "handout_vs_heapq": round(poll_rate / heap_rate, 4),
                "handed_out_in_order": ordered,
                "latency_offered_per_s": round(poll_rate / 2),
                "enqueue_to_start_p50_ms": round(p50_s * 1000, 3),
                "enqueue_to_start_p99_ms": round(p99_s * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-n", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.seed, args.latency_n))
