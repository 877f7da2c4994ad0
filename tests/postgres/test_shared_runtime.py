"""Several runtimes on one PostgreSQL journal share its runs by partition (issue 17, A and B).

Each `Runtime` here stands for one process. Its heartbeat is driven by hand
(`tick()`; the background one, every `lease_s / 3`, is too slow to come in
a test), and a death is modelled on the database's clock: the member row
and leases of the "dead" runtime are moved into the past, never slept for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import asyncpg
import pytest

import cadenza
from cadenza.persistence._postgres_schema import PARTITIONS, partition_of
from cadenza.runtime._partitions import Partitions
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

LEASE_S = 30.0  # the background heartbeat never comes within a test: ticks are by hand

WAITING = {
    "name": "waiting",
    "tasks": [
        {"name": "hold", "taskReferenceName": "hold", "type": "WAIT",
         "inputParameters": {"duration": "10 minutes"}},
        {"name": "step_a", "taskReferenceName": "a", "inputParameters": {"n": "${workflow.input.n}"}},
    ],
    "outputParameters": {"result": "${a.output.n}"},
}  # fmt: skip
APPROVAL = {
    "name": "approval",
    "tasks": [{"name": "ok", "taskReferenceName": "ok", "type": "WAIT"}],
    "outputParameters": {"by": "${ok.output.by}"},
}


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def parts(rt: cadenza.Runtime) -> Partitions:
    ownership = rt._engine.ownership
    assert isinstance(ownership, Partitions)
    return ownership


def held(rt: cadenza.Runtime) -> set[int]:
    return set(parts(rt).leases.held)


async def prepare(rt: cadenza.Runtime) -> None:
    await rt.register(three_steps())
    await rt.register(WAITING)
    await rt.register(APPROVAL)
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, add_one)


async def records_by_owner(url: str) -> list[tuple[str, str, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT stream_id, owner, epoch FROM cadenza.records ORDER BY seq")
    finally:
        await conn.close()
    return [(r[0], r[1], r[2]) for r in rows]


async def kill_on_the_database_clock(url: str, owner: str) -> None:
    """`owner` is dead as far as the others can tell: its member row and leases ran out."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE cadenza.members SET expires_at = now() - interval '1 hour' WHERE owner = $1",
            owner,
        )
        await conn.execute(
            "UPDATE cadenza.leases SET expires_at = now() - interval '1 hour' WHERE owner = $1",
            owner,
        )
    finally:
        await conn.close()


async def test_runtimes_split_the_partitions_and_start_runs_only_in_their_own(
    pg_url: str, clock: VirtualClock
) -> None:
    """A second runtime gets half the partitions through graceful moves; each mints run ids
    in partitions it holds, and every record names the owner that wrote it."""
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a:
        await prepare(a)
        assert held(a) == set(range(PARTITIONS))
        async with cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b:
            await prepare(b)
            assert held(b) == set()  # all held by a, alive: nothing free yet
            await parts(a).tick()  # a releases its surplus
            await parts(b).tick()  # b takes it
            await b.settle()
            assert len(held(a)) == len(held(b)) == PARTITIONS // 2
            assert held(a).isdisjoint(held(b))
            ids_a = [await a.start("three_steps", {"n": i}) for i in range(6)]
            ids_b = [await b.start("three_steps", {"n": i}) for i in range(6)]
            assert all(partition_of(r) in held(a) for r in ids_a)
            assert all(partition_of(r) in held(b) for r in ids_b)
            for rt, ids in ((a, ids_a), (b, ids_b)):
                for i, run_id in enumerate(ids):
                    done = await rt.wait(run_id, timeout=30)
                    assert (done.status, done.output) == ("COMPLETED", {"result": i + 3})
            # read across: b sees a's run as a's actor wrote it, and may wait for it
            assert (await b.get(ids_a[0])).status == "COMPLETED"
            assert (await b.wait(ids_a[1], timeout=30)).output == {"result": 4}
            owner_a, owner_b = parts(a).leases.owner, parts(b).leases.owner
    written = {(stream, owner) for stream, owner, _epoch in await records_by_owner(pg_url)}
    assert {owner for s, owner in written if s in ids_a} == {owner_a}
    assert {owner for s, owner in written if s in ids_b} == {owner_b}


async def test_operations_and_results_for_runs_owned_elsewhere_go_through_the_inbox(
    pg_url: str, clock: VirtualClock
) -> None:
    """Signal, terminate and an external worker's completion sent to the process that does
    not own the run are applied by the owner, in order; nothing is written by the sender."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        await prepare(a)
        await prepare(b)
        await parts(a).tick()
        await parts(b).tick()
        await b.settle()
        approval = await a.start("approval", {})
        doomed = await a.start("approval", {})
        external = await a.start("three_steps", {"n": 1}, task_to_group={"step_a": "remote"})
        await a.settle()
        await b.signal(approval, "ok", {"by": "ana"})  # posted to a's inbox
        await b.terminate(doomed, "no longer needed")
        task = await a.poll("step_a", group="remote")
        assert task is not None
        await b.complete(task.id, {"n": 10})  # the worker reports to the other process
        assert (await a.wait(approval, timeout=30)).output == {"by": "ana"}
        assert (await a.wait(doomed, timeout=30)).status == "TERMINATED"
        assert (await b.wait(external, timeout=30)).output == {"result": 12}
        assert parts(a).applied == 3
        assert parts(b).applied == 0
        assert await parts(a).inbox.size() == 0
        owner_a = parts(a).leases.owner
    assert {o for s, o, _ in await records_by_owner(pg_url) if s in (approval, doomed)} == {owner_a}


async def test_a_dead_owners_runs_are_taken_over_with_their_timers_and_its_writes_refused(
    pg_url: str, clock: VirtualClock
) -> None:
    """b takes over every partition of a dead a: its parked runs are recovered and their
    timers re-armed in b; a, not dead but paused past its lease, has its late wake-ups
    refused (nothing of a's after the takeover is written) and drops its actors."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        await prepare(a)
        await prepare(b)
        runs = [await a.start("waiting", {"n": i}) for i in range(8)]
        remote = {"step_a": "remote"}  # no worker: in flight in a until taken over
        busy = [await a.start("three_steps", {"n": i}, task_to_group=remote) for i in range(3)]
        await a.settle()
        assert a._engine.gate.in_flight == 3
        owner_a = parts(a).leases.owner
        waiting_in_a = [await _waiting(a, run_id) for run_id in runs[:2]]
        await kill_on_the_database_clock(pg_url, owner_a)
        before = len(await records_by_owner(pg_url))
        await parts(b).tick()
        await b.settle()
        assert held(b) == set(range(PARTITIONS))
        assert parts(b).taken_over == PARTITIONS
        await parts(a).tick()  # a wakes up: its leases are gone, its actors dropped
        assert held(a) == set()
        assert a._engine.gate.in_flight == 0  # nor counted against its starts
        assert b._engine.gate.in_flight == 3
        assert [(await b.get(r)).tasks[0].status for r in busy] == ["SCHEDULED"] * 3
        await clock.advance(600)  # both armed the WAITs: only b's may write
        await a.settle()
        await b.settle()
        for i, run_id in enumerate(runs):
            done = await b.wait(run_id, timeout=30)
            assert (done.status, done.output) == ("COMPLETED", {"result": i + 1})
        for i, waiter in enumerate(waiting_in_a):  # a's callers waiting across the move
            with anyio.fail_after(30):
                assert (await waiter).output == {"result": i + 1}
        owner_b = parts(b).leases.owner
    after = await records_by_owner(pg_url)
    assert {owner for _s, owner, _e in after[before:]} == {owner_b}
    epochs: dict[int, set[int]] = {}
    for stream, owner, epoch in after:
        if owner == owner_b:
            epochs.setdefault(partition_of(stream), set()).add(epoch)
    assert all(len(e) == 1 for e in epochs.values())  # one epoch per partition and owner


async def test_a_start_forwarded_while_no_one_held_its_partition_is_applied_on_takeover(
    pg_url: str, clock: VirtualClock
) -> None:
    """b holds nothing when it starts a run: the start waits in the inbox. When b itself then
    takes the partitions over, it applies the start (its stand-in, still answering the
    caller, must not stand in the way) and the caller gets the run's id."""
    a = cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S)
    await a.__aenter__()  # first: it holds everything
    async with cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b:
        await prepare(a)
        await a.__aexit__(None, None, None)
        await prepare(b)  # a left gracefully: everything is free, b has not ticked yet
        assert held(b) == set()
        starting = asyncio.ensure_future(b.start("approval", {}, key="once"))
        while await parts(b).inbox.size() == 0:  # noqa: ASYNC110 (a row in another table)
            await anyio.sleep(0.01)
        await parts(b).tick()
        with anyio.fail_after(30):
            run_id = await starting
        assert isinstance(run_id, str)
        assert partition_of(run_id) in held(b)
        assert (await b.get(run_id)).status == "RUNNING"
        assert await b.start("approval", {}, key="once") == run_id


async def test_a_run_started_through_the_inbox_is_recovered_when_its_starter_takes_over(
    pg_url: str, clock: VirtualClock
) -> None:
    """b mints an id it does not own and forwards the start; a applies it. When b takes the
    partition over after a's death, it loads the run (the id is not b's fresh one any more)
    and the takeover recovers it."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        await prepare(a)
        await prepare(b)
        assert held(b) == set()
        with anyio.fail_after(30):
            run_id = await b.start("approval", {})
        assert partition_of(run_id) in held(a)  # started by a, from its inbox
        await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
        await parts(b).tick()
        await b.settle()
        assert held(b) == set(range(PARTITIONS))  # the takeover did not fail and give back
        await b.signal(run_id, "ok", {"by": "bo"})
        assert (await b.wait(run_id, timeout=30)).output == {"by": "bo"}


async def _waiting(rt: cadenza.Runtime, run_id: str) -> asyncio.Task[cadenza.WorkflowRun]:
    """`rt.wait(run_id)` going on in the background, once its actor holds the waiter."""
    task = asyncio.ensure_future(rt.wait(run_id))
    await rt.settle()
    assert not task.done()
    return task


async def test_lease_s_is_checked(pg_url: str) -> None:
    with pytest.raises(cadenza.InvalidArgument, match="lease_s"):
        cadenza.Runtime(pg_url, lease_s=0)
    with pytest.raises(cadenza.InvalidArgument, match="lease_s"):
        cadenza.Runtime(pg_url, lease_s="10")  # type: ignore[arg-type]
