"""Micro-benchmark of the actor kernel; prints one JSON object.

    .venv/bin/python simulations/bench_actors.py [--messages N] [--actors N] [--asks N]

Figures (per second, best of `--repeat` runs, one event loop):
- `tell_1_actor_msgs_per_s`: `await tell` from one producer into one actor
  that counts in `receive_batch` (mailbox 1024, batches up to 256);
- `tell_10k_actors_msgs_per_s`: one message to each of N fresh actors, i.e.
  the cost of an activation (runner task + factory + started + one batch);
- `entity_activate_passivate_per_s`: one message to each of N entity keys,
  each passivating after it (pool cell made and forgotten, stopped() awaited);
- `ask_round_trips_per_s`: sequential `ask` to one actor replying at once;
- `asyncio_queue_msgs_per_s`: a bare `asyncio.Queue(1024)` put/get between
  two tasks, as a yardstick measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any

from cadenza.actors import Actor, ActorSystem, RealClock, Reply


class Counter(Actor[int]):
    def __init__(self, box: list[int]):
        self.box = box

    async def receive_batch(self, messages: list[int]) -> None:
        self.box[0] += len(messages)


@dataclass(slots=True)
class Ping:
    reply: Reply[int]


class Echo(Actor[Ping]):
    async def receive(self, message: Ping) -> None:
        message.reply.set(1)


async def bench_one_actor(n: int) -> float:
    box = [0]
    async with ActorSystem(clock=RealClock()) as system:
        ref = system.spawn(lambda: Counter(box), name="counter")
        start = time.perf_counter()
        for i in range(n):
            await ref.tell(i)
        await system.quiescent()
        elapsed = time.perf_counter() - start
    assert box[0] == n, box
    return n / elapsed


async def bench_many_actors(n: int) -> float:
    box = [0]
    async with ActorSystem(clock=RealClock()) as system:
        refs = [system.spawn(lambda: Counter(box), name=f"a{i}") for i in range(n)]
        start = time.perf_counter()
        for ref in refs:
            await ref.tell(1)
        await system.quiescent()
        elapsed = time.perf_counter() - start
    assert box[0] == n, box
    return n / elapsed


class Sleeper(Actor[int]):
    """An entity that handles one message and passivates (activation + passivation)."""

    def __init__(self, box: list[int]):
        self.box = box

    async def receive(self, message: int) -> None:
        self.box[0] += 1
        self.context.passivate()


async def bench_entities(n: int) -> float:
    box = [0]
    async with ActorSystem(clock=RealClock()) as system:
        pool = system.entities(lambda key: Sleeper(box), kind="e")
        start = time.perf_counter()
        for i in range(n):
            await pool.ref(str(i)).tell(i)
        await system.quiescent()
        elapsed = time.perf_counter() - start
        assert pool.active() == 0
    assert box[0] == n, box
    return n / elapsed


async def bench_ask(n: int) -> float:
    async with ActorSystem(clock=RealClock()) as system:
        ref = system.spawn(Echo, name="echo")
        start = time.perf_counter()
        for _ in range(n):
            await ref.ask(Ping)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def bench_queue(n: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue(1024)

    async def consume() -> None:
        for _ in range(n):
            await queue.get()

    start = time.perf_counter()
    consumer = asyncio.create_task(consume())
    for i in range(n):
        await queue.put(i)
    await consumer
    return n / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[float]] = {
        "tell_1_actor_msgs_per_s": [],
        "tell_10k_actors_msgs_per_s": [],
        "entity_activate_passivate_per_s": [],
        "ask_round_trips_per_s": [],
        "asyncio_queue_msgs_per_s": [],
    }
    for _ in range(args.repeat):
        runs["tell_1_actor_msgs_per_s"].append(await bench_one_actor(args.messages))
        runs["tell_10k_actors_msgs_per_s"].append(await bench_many_actors(args.actors))
        runs["entity_activate_passivate_per_s"].append(await bench_entities(args.actors))
        runs["ask_round_trips_per_s"].append(await bench_ask(args.asks))
        runs["asyncio_queue_msgs_per_s"].append(await bench_queue(args.messages))
    result: dict[str, Any] = {name: round(max(values)) for name, values in runs.items()}
    result["params"] = {
        "messages": args.messages,
        "actors": args.actors,
        "asks": args.asks,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--asks", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
