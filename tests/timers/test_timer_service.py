"""The timer service on its own: order, batching, never early."""

from __future__ import annotations

from typing import Any

import anyio

from cadenza.actors import Actor, ActorSystem, RealClock, VirtualClock
from cadenza.dispatch._timers import Arm, TimerService


class Recorder(Actor[Any]):
    def __init__(self, clock: Any, seen: list[tuple[str, float]], batches: list[int]):
        self.clock = clock
        self.seen = seen
        self.batches = batches

    async def receive_batch(self, messages: list[Any]) -> None:
        self.batches.append(len(messages))
        for message in messages:
            self.seen.append((message, self.clock.now()))


async def test_due_timers_fire_in_deadline_order_in_one_batch() -> None:
    """Timers armed out of order fire by deadline (ties in arming order), all due ones together."""
    clock = VirtualClock(start=100.0)
    seen: list[tuple[str, float]] = []
    batches: list[int] = []
    async with ActorSystem(clock=clock) as system:
        clock.attach(system.quiescent)
        timers = system.spawn(lambda: TimerService(clock), name="timers")
        target = system.spawn(lambda: Recorder(clock, seen, batches), name="target")
        for when, label in ((105.0, "c"), (101.0, "a"), (105.0, "d"), (103.0, "b")):
            await timers.tell(Arm(when, target, label))
        await clock.advance(2.999)
        assert [label for label, _ in seen] == ["a"]
        await clock.advance(10)
        assert [label for label, _ in seen] == ["a", "b", "c", "d"]
        assert all(at >= {"a": 101, "b": 103, "c": 105, "d": 105}[label] for label, at in seen)
        assert batches[-1] == 2  # c and d, due together, arrive as one batch
        clock.detach(system.quiescent)


async def test_on_the_real_clock_no_timer_fires_before_its_deadline() -> None:
    """Even where the loop wakes a hair early, nothing is delivered before its deadline."""
    clock = RealClock()
    seen: list[tuple[str, float]] = []
    done = anyio.Event()

    class Last(Recorder):
        async def receive_batch(self, messages: list[Any]) -> None:
            await super().receive_batch(messages)
            if len(self.seen) == 200:
                done.set()

    deadlines: dict[str, float] = {}
    async with ActorSystem(clock=clock) as system:
        timers = system.spawn(lambda: TimerService(clock), name="timers")
        target = system.spawn(lambda: Last(clock, seen, []), name="target")
        start = clock.now()
        for i in range(200):
            label = f"t{i}"
            deadlines[label] = start + 0.01 + (i % 50) * 0.001
            await timers.tell(Arm(deadlines[label], target, label))
        with anyio.fail_after(10):
            await done.wait()
    assert all(at >= deadlines[label] for label, at in seen)


async def test_deadlines_in_one_resolution_slot_share_one_wake_up() -> None:
    """A storm of deadlines within one millisecond costs one wake-up, and none fires early."""
    clock = VirtualClock(start=100.0)
    seen: list[tuple[str, float]] = []
    async with ActorSystem(clock=clock) as system:
        clock.attach(system.quiescent)
        service = TimerService(clock, resolution_s=0.001)
        timers = system.spawn(lambda: service, name="timers")
        target = system.spawn(lambda: Recorder(clock, seen, []), name="target")
        for i in range(1000):
            # all strictly inside one slot, (100.500, 100.501]
            await timers.tell(Arm(100.5002 + i * 0.0000007, target, f"t{i}"))
        await clock.advance(1)
        clock.detach(system.quiescent)
    assert len(seen) == 1000
    assert service.wakeups == 1
    assert all(at >= 100.5002 + int(label[1:]) * 0.0000007 for label, at in seen)
    assert max(at for _, at in seen) <= 100.501 + 1e-9
