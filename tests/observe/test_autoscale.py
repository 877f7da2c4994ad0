"""Autoscaled local workers: `concurrency=(min, max)` grows while tasks wait and every slot is
busy, and shrinks when idle, on the runtime's (virtual) clock; the pool size is a metric."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import cadenza
from cadenza.dispatch._autoscale import AUTOSCALE_IDLE_S
from cadenza.testing import VirtualClock

ONE_STEP: dict[str, Any] = {
    "name": "one_step",
    "version": 1,
    "tasks": [{"name": "work", "taskReferenceName": "w"}],
}


class Gate:
    """A worker that holds every task until released, counting how many run at once."""

    def __init__(self, until: int):
        self.running = 0
        self.peak = 0
        self.until = until
        self.reached = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running >= self.until:
            self.reached.set()
        await self.release.wait()
        self.running -= 1
        return {}


def gauge(rt: cadenza.Runtime, name: str, **labels: str) -> float | None:
    assert rt.metrics is not None
    return rt.metrics.get_sample_value(name, labels)


def pool(rt: cadenza.Runtime) -> float | None:
    return gauge(rt, "cadenza_worker_pool_size", task_type="work", group="default")


def slots_alive(rt: cadenza.Runtime) -> int:
    worker = rt._engine._groups["default"][0].workers["work"]
    return worker.slots - worker.leaving


async def test_a_pool_grows_while_tasks_wait_and_shrinks_when_idle(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    gate = Gate(until=4)
    rt.worker("work", gate, concurrency=(1, 4))
    await rt.register(ONE_STEP)
    runs = [await rt.start("one_step", {"n": n}) for n in range(10)]
    with anyio.fail_after(5):
        await gate.reached.wait()
    assert pool(rt) == 4
    assert gauge(rt, "cadenza_worker_pool_busy", task_type="work", group="default") == 4
    assert gauge(rt, "cadenza_queue_depth", task_type="work", group="default") == 6
    gate.release.set()
    for run_id in runs:
        assert (await rt.wait(run_id, timeout=5)).status == "COMPLETED"
    await rt.settle()
    assert gate.peak == 4  # never past max
    assert pool(rt) == 4
    await clock.advance(AUTOSCALE_IDLE_S)  # the window the tasks ran in: all 4 were busy
    assert pool(rt) == 4
    await clock.advance(AUTOSCALE_IDLE_S)  # a window with nothing running: back to min
    await rt.settle()
    assert pool(rt) == 1
    assert slots_alive(rt) == 1


async def test_a_shrunk_pool_grows_again_under_new_load(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    first = Gate(until=3)
    rt.worker("work", first, concurrency=(2, 3))
    await rt.register(ONE_STEP)
    runs = [await rt.start("one_step", {"n": n}) for n in range(3)]
    with anyio.fail_after(5):
        await first.reached.wait()
    assert pool(rt) == 3
    first.release.set()
    for run_id in runs:
        await rt.wait(run_id, timeout=5)
    await clock.advance(2 * AUTOSCALE_IDLE_S)
    await rt.settle()
    assert pool(rt) == 2  # min is 2
    assert slots_alive(rt) == 2
    second = Gate(until=3)
    rt.worker("work", second, concurrency=(2, 3))
    runs = [await rt.start("one_step", {"n": n}) for n in range(5)]
    with anyio.fail_after(5):
        await second.reached.wait()
    assert pool(rt) == 3
    second.release.set()
    for run_id in runs:
        assert (await rt.wait(run_id, timeout=5)).status == "COMPLETED"
    assert second.peak == 3


async def test_a_fixed_pool_never_grows(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    gate = Gate(until=2)
    rt.worker("work", gate, concurrency=2)
    await rt.register(ONE_STEP)
    runs = [await rt.start("one_step", {"n": n}) for n in range(6)]
    with anyio.fail_after(5):
        await gate.reached.wait()
    assert pool(rt) == 2
    assert gauge(rt, "cadenza_queue_depth", task_type="work", group="default") == 4
    gate.release.set()
    for run_id in runs:
        await rt.wait(run_id, timeout=5)
    assert gate.peak == 2
    await clock.advance(2 * AUTOSCALE_IDLE_S)
    assert pool(rt) == 2


@pytest.mark.parametrize(
    ("concurrency", "said"),
    [
        ((0, 3), "concurrency: expected"),
        ((3, 2), "(min, max) needs min <= max"),
        ((1, 2, 3), "expected n or (min, max)"),
        ((1, 20_000), "concurrency: expected"),
        ("4", "concurrency: expected"),
    ],
)
def test_bad_pool_bounds_are_refused(concurrency: Any, said: str) -> None:
    rt = cadenza.Runtime(":memory:")

    async def work(data: dict[str, Any]) -> None:
        return None

    with pytest.raises(cadenza.InvalidArgument, match=said.replace("(", r"\(").replace(")", r"\)")):
        rt.worker("work", work, concurrency=concurrency)
