"""A task already in the shared queue when its run changes owner runs exactly once (issue 17,
"possible double run after a takeover").

a owns a run and has no worker for `job`, so it posts the task's row to the shared queue;
b has a local worker for `job`. a dies (on the database's clock) and b takes the run over:
recovery would queue the task in b's local group, while a's row is still there for any
poller or puller. b must run it locally only once the row is gone (removed unclaimed), and
must leave it to the worker that claimed it before the takeover.

b's single slot is held by a task of b's own run while this happens ("b is busy"), so b's
puller takes nothing from the shared queue meanwhile; heartbeats are ticked by hand (see
test_shared_runtime.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_poll import ONE, expire_queue_leases, queue_rows, two_processes
from tests.postgres.test_shared_runtime import LEASE_S, held, kill_on_the_database_clock, parts


@dataclass
class Busy:
    """b's worker for `job` (one slot): counts its runs by run id; its own run's task holds
    the slot until `free` is set."""

    blocker: str = ""
    ran: Counter[str] = field(default_factory=Counter)
    holding: anyio.Event = field(default_factory=anyio.Event)
    free: anyio.Event = field(default_factory=anyio.Event)

    async def job(self, data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
        self.ran[ctx.run_id] += 1
        if ctx.run_id == self.blocker:
            self.holding.set()
            await self.free.wait()
        return {"n": data["n"] * 10}


@asynccontextmanager
async def b_busy(
    pg_url: str, clock: VirtualClock, taskdef: dict[str, Any] | None = None
) -> AsyncIterator[tuple[cadenza.Runtime, cadenza.Runtime, Busy]]:
    """a (no worker) and b (one slot, held by its own run's task), as `two_processes`."""
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        busy = Busy()
        b.worker("job", busy.job, concurrency=1)
        busy.blocker = await b.start("one", {"n": 0})
        assert partition_of(busy.blocker) in held(b)
        with anyio.fail_after(30):
            await busy.holding.wait()
        try:
            yield a, b, busy
        finally:
            busy.free.set()


async def take_over_from(url: str, a: cadenza.Runtime, b: cadenza.Runtime) -> None:
    """a dies; b takes its partitions and has recovered their runs (b's slot may be busy, so
    the recovery is waited for, not `settle()`)."""
    recovered = b._engine.recovered
    await kill_on_the_database_clock(url, parts(a).leases.owner)
    await parts(b).tick()
    await recovered_since(b, recovered)


def dead(rt: cadenza.Runtime) -> None:
    """`rt` (killed on the database's clock) applies no more inbox messages, as a dead
    process would not: they wait for the run's next owner."""

    async def nothing() -> int:
        return 0

    parts(rt).drain = nothing  # type: ignore[method-assign]


async def recovered_since(rt: cadenza.Runtime, recovered: int) -> None:
    """Return once `rt` recovered runs beyond the `recovered` it had (a takeover's)."""
    with anyio.fail_after(30):
        while rt._engine.recovered == recovered:  # noqa: ASYNC110 (no event to wait on)
            await anyio.sleep(0.005)


async def test_an_unclaimed_row_is_removed_and_the_task_runs_once_at_the_new_owner(
    pg_url: str, clock: VirtualClock
) -> None:
    """a posted the task; after b took the run over, a poller of a third process finds
    nothing (b removed the row before queueing it locally), and b's worker runs it once."""
    async with b_busy(pg_url, clock) as (a, b, busy):
        run_id = await a.start("one", {"n": 1})
        assert partition_of(run_id) in held(a)
        await a.settle()
        assert [r[1] for r in await queue_rows(pg_url)] == [None]  # posted, unclaimed
        await take_over_from(pg_url, a, b)
        assert partition_of(run_id) in held(b)
        async with cadenza.Runtime(pg_url, clock=clock, seed=3, lease_s=LEASE_S) as c:
            await c.register(ONE)
            assert held(c) == set()  # b holds every partition: c only polls
            assert await c.poll("job", worker_id="outsider") is None
        busy.free.set()
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 10})
        assert [t.worker_id for t in done.tasks] == ["local:default:0"]
        await b.settle()
        assert busy.ran[run_id] == 1
        assert await queue_rows(pg_url) == []


async def test_a_row_claimed_before_the_takeover_stays_with_its_worker(
    pg_url: str, clock: VirtualClock
) -> None:
    """An external worker claimed the task from a's row before a died: b does not run it
    locally, and the worker's completion (at b) completes the run."""
    async with b_busy(pg_url, clock) as (a, b, busy):
        run_id = await a.start("one", {"n": 2})
        assert partition_of(run_id) in held(a)
        task = await a.poll("job", worker_id="outsider", wait=10)
        assert task is not None
        assert task.run_id == run_id
        await take_over_from(pg_url, a, b)
        busy.free.set()
        await b.settle()  # b's slot is free and idle: the task was not queued here
        assert busy.ran[run_id] == 0
        await b.complete(task.id, {"n": 7})
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 7})
        assert [t.worker_id for t in done.tasks] == ["outsider"]
        await b.settle()
        assert busy.ran[run_id] == 0
        assert await queue_rows(pg_url) == []


async def test_a_claim_that_lapses_after_the_takeover_is_timed_out_and_retried_here(
    pg_url: str, clock: VirtualClock
) -> None:
    """The worker that claimed a's row goes silent past its lease: the row is reaped (by b's
    puller), b times the attempt out and its worker runs the retry, once; the old worker's
    late completion is stale."""
    taskdef = {"responseTimeoutSeconds": 30, "retryCount": 1, "retryDelaySeconds": 0}
    async with b_busy(pg_url, clock, taskdef) as (a, b, busy):
        run_id = await a.start("one", {"n": 3})
        task = await a.poll("job", worker_id="outsider", wait=10)
        assert task is not None
        await take_over_from(pg_url, a, b)
        await expire_queue_leases(pg_url)
        busy.free.set()
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 30})
        assert [(t.status, t.worker_id) for t in done.tasks] == [
            ("TIMED_OUT", "outsider"),
            ("COMPLETED", "local:default:0"),
        ]
        assert busy.ran[run_id] == 1
        with pytest.raises(cadenza.StaleTask):
            await b.complete(task.id, {"n": 99})
        await b.settle()
        assert await queue_rows(pg_url) == []


async def test_a_row_left_by_an_owner_that_left_gracefully_runs_once(
    pg_url: str, clock: VirtualClock
) -> None:
    """a closes (releasing its partitions) with its posted task unclaimed: b takes the run
    over, removes the row and runs the task once; a poller finds nothing."""
    busy = Busy()
    async with cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b:
        await b.register(ONE)
        async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a:
            await a.register(ONE)
            await parts(b).tick()  # b gives a its share
            await parts(a).tick()
            await a.settle()
            assert held(a)
            b.worker("job", busy.job, concurrency=1)
            busy.blocker = await b.start("one", {"n": 0})
            with anyio.fail_after(30):
                await busy.holding.wait()
            run_id = await a.start("one", {"n": 4})
            assert partition_of(run_id) in held(a)
            await a.settle()
            assert [r[1] for r in await queue_rows(pg_url)] == [None]
        recovered = b._engine.recovered
        await parts(b).tick()
        await recovered_since(b, recovered)
        assert partition_of(run_id) in held(b)
        assert await queue_rows(pg_url) == []  # removed before it was queued at b
        busy.free.set()
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 40})
        await b.settle()
        assert busy.ran[run_id] == 1


async def test_an_owner_that_registers_a_worker_later_runs_what_it_posted(
    pg_url: str, clock: VirtualClock
) -> None:
    """a posts its run's task (no worker yet), then registers one: a's puller claims a row
    of a run a owns, which a posted itself, and runs it (before, it voided the row as if
    an earlier owner had posted it, and the run waited for ever)."""
    async with two_processes(pg_url, clock) as (a, _b):
        run_id = await a.start("one", {"n": 5})
        assert partition_of(run_id) in held(a)
        await a.settle()
        ran: list[str] = []

        async def job(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            ran.append(ctx.run_id)
            return {"n": data["n"]}

        a.worker("job", job)
        with anyio.fail_after(30):
            assert (await a.wait(run_id)).output == {"result": 5}
        await a.settle()
        assert ran == [run_id]
        assert await queue_rows(pg_url) == []


async def test_a_result_waiting_in_the_inbox_at_the_takeover_is_not_run_again(
    pg_url: str, clock: VirtualClock
) -> None:
    """The worker completed a's task after a died and before b took over: its row went and
    its result waits in the run's inbox. b, its slot free, does not run the task again:
    the result it applies after recovery completes the run."""
    async with b_busy(pg_url, clock) as (a, b, busy):
        run_id = await a.start("one", {"n": 6})
        task = await a.poll("job", worker_id="outsider", wait=10)
        assert task is not None
        await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
        dead(a)
        await b.complete(task.id, {"n": 8})  # b does not own the run yet: to its inbox
        assert await queue_rows(pg_url) == []
        busy.free.set()
        await b.settle()
        recovered = b._engine.recovered
        await parts(b).tick()
        await recovered_since(b, recovered)
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 8})
        assert [t.worker_id for t in done.tasks] == ["outsider"]
        await b.settle()
        assert busy.ran[run_id] == 0


async def test_a_post_written_late_by_an_owner_that_lost_the_run_is_refused(
    pg_url: str, clock: VirtualClock
) -> None:
    """a's post of the task is held up (its server connection slow) until after b took the
    run over and queued the task locally: the late post finds a's lease gone and writes
    nothing, so no poller can claim the task b runs."""
    async with b_busy(pg_url, clock) as (a, b, busy):
        queue = parts(a).shared.queue  # type: ignore[union-attr]
        push = queue.push
        slow = anyio.Event()
        posting = anyio.Event()

        async def held_up(*args: Any, **kwargs: Any) -> None:
            posting.set()
            await slow.wait()
            await push(*args, **kwargs)

        queue.push = held_up  # type: ignore[method-assign]
        run_id = await a.start("one", {"n": 9})
        with anyio.fail_after(30):
            await posting.wait()
        await take_over_from(pg_url, a, b)
        assert partition_of(run_id) in held(b)
        slow.set()
        with anyio.fail_after(30):
            await a.settle()  # the late post was written, or refused
        assert await queue_rows(pg_url) == []
        busy.free.set()
        with anyio.fail_after(30):
            done = await b.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 90})
        await b.settle()
        assert busy.ran[run_id] == 1


async def test_polls_racing_the_takeover_leave_every_task_one_run(
    pg_url: str, clock: VirtualClock
) -> None:
    """a dies with 20 tasks posted; two pollers of a third process claim them while b takes
    a's runs over (each poll's start waits in the inbox for the new owner): every task runs
    once, at a poller or at b's worker, and every run completes."""
    async with b_busy(pg_url, clock) as (a, b, busy):
        ids = [await a.start("one", {"n": n}) for n in range(1, 21)]
        assert all(partition_of(run_id) in held(a) for run_id in ids)
        await a.settle()
        assert len(await queue_rows(pg_url)) == len(ids)
        async with cadenza.Runtime(pg_url, clock=clock, seed=3, lease_s=LEASE_S) as c:
            await c.register(ONE)
            assert held(c) == set()
            # c only polls: its member row expired, b's balance takes all of a's partitions
            await kill_on_the_database_clock(pg_url, parts(c).leases.owner)
            dead(a)
            outside: Counter[str] = Counter()
            stop = anyio.Event()

            async def poller() -> None:
                while not stop.is_set():
                    task = await c.poll("job", worker_id="outsider", wait=0.05)
                    if task is not None:
                        outside[task.run_id] += 1
                        await c.complete(task.id, {"n": task.input["n"] * 10})

            async with anyio.create_task_group() as tg:
                tg.start_soon(poller)
                tg.start_soon(poller)
                with anyio.fail_after(30):  # claims in flight: their starts wait for b
                    while all(r[1] is None for r in await queue_rows(pg_url)):  # noqa: ASYNC110
                        await anyio.sleep(0.005)
                await take_over_from(pg_url, a, b)
                busy.free.set()
                with anyio.fail_after(60):
                    for n, run_id in enumerate(ids, start=1):
                        done = await b.wait(run_id)
                        assert (done.status, done.output) == ("COMPLETED", {"result": n * 10})
                stop.set()
        await b.settle()
        assert {run_id: outside[run_id] + busy.ran[run_id] for run_id in ids} == dict.fromkeys(
            ids, 1
        )
        assert await queue_rows(pg_url) == []
