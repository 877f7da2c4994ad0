"""Pulled tasks get what local slots have (issue 17): a hung function is cancelled once its
attempt is over, crashes count towards pausing the worker, autoscaled pools grow.

Each `Runtime` stands for one process (partition heartbeats ticked by hand). Where the
owner's clock must move while b's function hangs, a and b have clocks of their own: a
virtual clock's `advance` waits for every runtime on it to settle, and a hung function
keeps b busy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.dispatch._autoscale import AUTOSCALE_IDLE_S
from cadenza.dispatch._slots import WORKER_RESTARTS_MAX
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_poll import expire_queue_leases, queue_rows, two_processes
from tests.postgres.test_shared_pullers import pullers
from tests.postgres.test_shared_runtime import held


@asynccontextmanager
async def apart(
    url: str, taskdef: dict[str, Any]
) -> AsyncIterator[tuple[cadenza.Runtime, VirtualClock, cadenza.Runtime]]:
    """Runtimes a and b as `two_processes` makes them, each on a clock of its own."""
    clock_a = VirtualClock(start=1_800_000_000.0)
    clock_b = VirtualClock(start=1_800_000_000.0)
    async with two_processes(url, clock_a, taskdef, clock_b=clock_b) as (a, b):
        yield a, clock_a, b


def worker_of(rt: cadenza.Runtime, task_type: str = "job") -> Any:
    return rt._engine._groups["default"][0].workers[task_type]


class _Hung:
    """A worker function that hangs until cancelled, and says when it started and ended."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.cancelled = anyio.Event()
        self.calls = 0

    async def __call__(self, data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
        self.calls += 1
        if ctx.attempt > 0:
            return {"n": data["n"]}
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")


class _Swallowing(_Hung):
    """A worker function that hangs, then swallows its cancellation and returns a verdict."""

    async def __call__(self, data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
        return {"late": data["n"]}  # a verdict for an attempt that is over


async def until(check: Callable[[], bool]) -> None:
    """Return once `check()` holds (polled, under the caller's deadline)."""
    while True:
        if check():
            return
        await anyio.sleep(0.01)


async def freed(rt: cadenza.Runtime) -> None:
    """Return once the `job` worker of `rt` has no busy slot."""
    await until(lambda: not worker_of(rt).running)


@pytest.mark.parametrize("function", [_Hung, _Swallowing])
@pytest.mark.parametrize("ends", ["timeoutSeconds", "terminate"])
async def test_a_hung_pulled_function_is_cancelled_when_the_remote_owner_ends_it(
    pg_url: str, ends: str, function: type[_Hung]
) -> None:
    """a owns the run, b pulls its task and hangs in it. a times the attempt out
    (timeoutSeconds, on a's clock) or terminates the run: a voids the row, and b cancels the
    function within its check interval; the slot is free again and b settles. Before, the
    function hung on, holding the slot. A function that swallows the cancellation and
    returns an output anyway has that verdict dropped, not reported."""
    taskdef = {"timeoutSeconds": 60, "responseTimeoutSeconds": 60, "retryCount": 0}
    async with apart(pg_url, taskdef) as (a, clock_a, b):
        hung = function()
        b.worker("job", hung, concurrency=1)
        run_id = await a.start("one", {"n": 1})
        with anyio.fail_after(30):
            await hung.started.wait()
        if ends == "terminate":
            await a.terminate(run_id, "enough")
        else:
            await clock_a.advance(61)
        done = await a.get(run_id)
        assert done.status == ("TERMINATED" if ends == "terminate" else "TIMED_OUT")
        with anyio.fail_after(10):
            await hung.cancelled.wait()
            await freed(b)
            await b.settle()
        assert pullers(b).watch.cancelled == 1
        assert pullers(b).finished == 0  # no verdict sent: it would be refused
        assert await queue_rows(pg_url) == []
        assert (await a.get(run_id)).tasks[0].output == {}


async def test_a_hung_pulled_function_of_a_run_owned_here_is_cancelled_at_once(
    pg_url: str, clock: VirtualClock
) -> None:
    """A limited type goes through the shared queue even where its worker runs: b pulls its
    own run's task. Terminating the run cancels the function in the same turn, as a local
    slot's is (the queue check is made too slow to be what cancels it)."""
    async with two_processes(pg_url, clock, {"concurrentExecLimit": 4}) as (a, b):
        del a
        pullers(b).watch.check_every_s = 3600.0
        hung = _Hung()
        b.worker("job", hung, concurrency=1)
        run_id = await b.start("one", {"n": 1})
        assert partition_of(run_id) in held(b)
        with anyio.fail_after(30):
            await hung.started.wait()
        assert pullers(b).pulled == 1
        await b.terminate(run_id, "enough")
        with anyio.fail_after(5):
            await hung.cancelled.wait()
            await freed(b)
            await b.settle()
        assert (await b.get(run_id)).status == "TERMINATED"
        assert await queue_rows(pg_url) == []


async def test_a_pulled_function_whose_lease_ran_out_is_cancelled_and_its_owner_told(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's function hangs without heartbeats past its lease (moved on the database's clock);
    b's every slot hangs, so b pulls, and reaps, nothing. b's check cancels the function and
    reaps the lease: a times the attempt out, and b pulls and completes the retry. Before,
    the function hung on and a never heard of it."""
    taskdef = {"retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 30}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        hung = _Hung()
        b.worker("job", hung, concurrency=1)
        run_id = await a.start("one", {"n": 4})
        with anyio.fail_after(30):
            await hung.started.wait()
        await expire_queue_leases(pg_url)
        with anyio.fail_after(30):
            await hung.cancelled.wait()
            done = await a.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 4})
        assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]
        assert hung.calls == 2


class _Crash(BaseException):
    """Not an Exception: a crash of the worker, not a failure of its task."""


async def test_pulled_crashes_pause_the_worker_past_the_restart_intensity(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's worker crashes on every task it pulls of a's runs: after WORKER_RESTARTS_MAX + 1
    crashes within the period it is paused, as a local slot's would be, and the next task
    stays in the shared queue; registering it again resumes it. Before, pulled crashes were
    not counted: it went on pulling and crashing."""
    async with two_processes(pg_url, clock, {"retryCount": 0}) as (a, b):
        crashes = WORKER_RESTARTS_MAX + 1

        async def crash(data: dict[str, Any]) -> dict[str, Any]:
            raise _Crash(f"boom {data['n']}")

        b.worker("job", crash, concurrency=1)
        ids = [await a.start("one", {"n": n}) for n in range(crashes)]
        for run_id in ids:
            with anyio.fail_after(30):
                ended = await a.wait(run_id)
            assert ended.status == "FAILED"
            assert ended.tasks[0].reason.startswith("worker crashed: _Crash: boom")
            assert ended.tasks[0].error is not None  # its traceback, as a local slot's
        with anyio.fail_after(10):
            await until(lambda: worker_of(b).paused and not worker_of(b).running)
        assert pullers(b).pulled == crashes
        last = await a.start("one", {"n": 9})
        await a.settle()
        await b.settle()
        await pullers(b).pull()
        assert pullers(b).pulled == crashes
        assert [r[1] for r in await queue_rows(pg_url)] == [None]  # waits, unclaimed

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            return {"n": data["n"]}

        b.worker("job", job, concurrency=1)  # registered again: resumed
        with anyio.fail_after(30):
            assert (await a.wait(last)).output == {"result": 9}


async def test_an_autoscaled_pool_grows_for_pulled_work_and_shrinks_after(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's worker autoscales between 1 and 3 slots; a's three tasks wait in the shared
    queue: the pool grows until all three run at once, then falls back to 1 once idle for
    two AUTOSCALE_IDLE_S windows (one saw them busy). Before, it stayed at 1 slot: one pulled task at a time."""
    async with two_processes(pg_url, clock) as (a, b):
        running = 0
        most = 0
        three = anyio.Event()
        gate = anyio.Event()

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            nonlocal running, most
            running += 1
            most = max(most, running)
            if running == 3:
                three.set()
            await gate.wait()
            running -= 1
            return {"n": data["n"]}

        ids = [await a.start("one", {"n": n}) for n in range(3)]
        await a.settle()
        b.worker("job", job, concurrency=(1, 3))
        with anyio.fail_after(20):
            await three.wait()
        assert worker_of(b).concurrency == 3
        gate.set()
        for n, run_id in enumerate(ids):
            with anyio.fail_after(30):
                assert (await a.wait(run_id)).output == {"result": n}
        assert most == 3
        await b.settle()
        with anyio.fail_after(30):
            await clock.advance(2 * AUTOSCALE_IDLE_S + 2)  # the busy window, then an idle one
            await b.settle()
        assert worker_of(b).concurrency == 1
