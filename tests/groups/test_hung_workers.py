"""A local worker whose attempt ends without its verdict is cancelled and gives its slot back.

A hung function (a worker that died inside the process) is rescued by its
task's `timeoutSeconds`; the runtime must then cancel it, or the slot — and
`rt.settle()`, which waits for busy workers — is held for ever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.persistence import MemoryJournal
from cadenza.testing import Simulation, VirtualClock
from tests.groups._helpers import START, one_task


class Meltdown(BaseException):
    """Not an Exception: the slot treats it as a crash."""


class Hangs:
    """A worker function that hangs on its first call and completes on the next."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = anyio.Event()
        self.cancelled = 0

    async def __call__(self, _input: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return {"call": self.calls}


async def _one_task_timing_out_after_5_s(rt: cadenza.Runtime) -> None:
    """`one`: a single task, timed out 5 s after it starts, then retried once at once."""
    await rt.register(one_task())
    await rt.register_task(
        {"name": "work", "timeoutSeconds": 5, "timeoutPolicy": "RETRY", "retryCount": 1,
         "retryDelaySeconds": 0}
    )  # fmt: skip


def test_a_hung_worker_is_cancelled_when_its_attempt_times_out() -> None:
    """timeoutSeconds with RETRY: the attempt ends TIMED_OUT, the hung call is cancelled,
    and its one slot runs the retry."""
    sim = Simulation(1)
    work = Hangs()

    async def main() -> cadenza.WorkflowRun:
        async with cadenza.Runtime(clock=sim.clock, journal=MemoryJournal(), seed=1) as rt:
            await _one_task_timing_out_after_5_s(rt)
            run_id = await rt.start("one")
            rt.worker("work", work, concurrency=1)
            await work.entered.wait()
            entered = sim.time
            await asyncio.sleep(4.999)
            assert work.cancelled == 0
            run = await rt.wait(run_id, timeout=60)
            assert sim.time - entered == pytest.approx(5.0)
            await rt.settle()  # returns: nothing holds the slot
            return run

    run = sim.run(main(), timeout_s=120)
    sim.close()
    assert work.cancelled == 1
    assert run.status == "COMPLETED"
    assert [t.status for t in run.tasks] == ["TIMED_OUT", "COMPLETED"]
    assert run.tasks[1].output == {"call": 2}


def test_a_hung_worker_is_cancelled_when_its_run_is_terminated() -> None:
    sim = Simulation(2)
    work = Hangs()

    async def main() -> tuple[cadenza.WorkflowRun, cadenza.WorkflowRun]:
        async with cadenza.Runtime(clock=sim.clock, journal=MemoryJournal(), seed=1) as rt:
            await rt.register(one_task())
            first = await rt.start("one")
            second = await rt.start("one")
            rt.worker("work", work, concurrency=1)
            await work.entered.wait()
            await rt.terminate(first, "operator")
            done = await rt.wait(second, timeout=60)  # the slot came back
            await rt.settle()
            return await rt.get(first), done

    first, second = sim.run(main(), timeout_s=120)
    sim.close()
    assert work.cancelled == 1
    assert first.tasks[0].status == "CANCELED"
    assert second.status == "COMPLETED"


def test_a_worker_that_swallows_its_cancellation_keeps_its_slot_and_loses_its_verdict() -> None:
    """A function that catches the cancellation and returns anyway: the late verdict is
    dropped, and the same slot goes on to run the retry."""
    sim = Simulation(3)
    calls = 0
    entered = anyio.Event()

    async def stubborn(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return {"late": True}  # swallowed
        return {"call": calls}

    async def main() -> cadenza.WorkflowRun:
        async with cadenza.Runtime(clock=sim.clock, journal=MemoryJournal(), seed=1) as rt:
            await _one_task_timing_out_after_5_s(rt)
            run_id = await rt.start("one")
            rt.worker("work", stubborn, concurrency=1)
            await entered.wait()
            run = await rt.wait(run_id, timeout=60)
            await rt.settle()
            return run

    run = sim.run(main(), timeout_s=120)
    sim.close()
    assert [t.status for t in run.tasks] == ["TIMED_OUT", "COMPLETED"]
    assert run.tasks[0].output == {}
    assert run.tasks[1].output == {"call": 2}


async def test_a_crashed_slots_retry_keeps_its_place_in_the_journal() -> None:
    """The retry of an attempt lost with its slot is journaled with the original place, so
    after a restart it still goes before the work that became ready after it."""
    clock = VirtualClock(start=START)
    journal = MemoryJournal()
    crashed = False

    async def crashes_once(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise Meltdown("segfault-ish")
        return {}

    async with cadenza.Runtime(clock=clock, journal=journal, seed=1) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "retryCount": 2, "retryDelaySeconds": 10})
        run_id = await rt.start("one")
        first_ready = clock.now()
        rt.worker("work", crashes_once)
        await rt.settle()
        run = await rt.get(run_id)
        assert run.tasks[0].status == "FAILED"
        assert run.tasks[0].reason == "worker crashed: Meltdown: segfault-ish"
        loaded = await journal.load(run_id)
        assert loaded is not None
        failed, scheduled = loaded.events[-2:]
        assert (failed["e"], failed["lost"]) == ("task_failed", True)
        assert (scheduled["e"], scheduled["place_at"]) == ("scheduled", first_ready)
        assert scheduled["ready_at"] == first_ready + 10


async def test_a_failing_worker_is_not_lost_and_its_retry_queues_anew() -> None:
    """An ordinary failure (an Exception) is the worker's verdict: no inherited place."""
    clock = VirtualClock(start=START)
    journal = MemoryJournal()

    async def fails(_input: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no")

    async with cadenza.Runtime(clock=clock, journal=journal, seed=1) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "retryCount": 1, "retryDelaySeconds": 10})
        run_id = await rt.start("one")
        rt.worker("work", fails)
        await rt.settle()
        loaded = await journal.load(run_id)
        assert loaded is not None
        failed, scheduled = loaded.events[-2:]
        assert (failed["e"], failed.get("lost", False)) == ("task_failed", False)
        assert scheduled.get("place_at") is None
