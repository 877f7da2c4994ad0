"""A call forwarded to a run's owner behaves as a direct call on the owner (issue 17).

It returns once the owner applied it (durably), with the owner's answer, or
raises the owner's refusal; so calls made one after the other through
different processes are applied in that order. As in `test_shared_runtime`,
each `Runtime` stands for one process and the heartbeat is driven by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncpg
import pytest

import cadenza
from cadenza import InvalidOperation, NotFound, StaleTask
from cadenza.persistence._shared import Posted
from cadenza.runtime._partitions import Partitions
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import LEASE_S, kill_on_the_database_clock, parts, prepare


async def two(pg_url: str, clock: VirtualClock) -> tuple[cadenza.Runtime, cadenza.Runtime]:
    a = cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S)
    b = cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S)
    await a.__aenter__()
    await b.__aenter__()
    await prepare(a)
    await prepare(b)
    await parts(a).tick()
    await parts(b).tick()
    await b.settle()
    return a, b


@pytest.fixture
async def pair(
    pg_url: str, clock: VirtualClock
) -> AsyncIterator[tuple[cadenza.Runtime, cadenza.Runtime]]:
    """Two runtimes (two processes) on one journal, both closed after the test."""
    a, b = await two(pg_url, clock)
    try:
        yield a, b
    finally:
        await b.__aexit__(None, None, None)
        await a.__aexit__(None, None, None)


class Gate:
    """Holds the owner's inbox: `reached` once it took a message, which waits for `open`."""

    def __init__(self, owner: Partitions):
        self.reached = anyio.Event()
        self.open = anyio.Event()
        applying = owner._apply

        async def gated(item: Posted) -> dict[str, Any] | None:
            self.reached.set()
            await self.open.wait()
            return await applying(item)

        owner._apply = gated  # type: ignore[method-assign]


async def test_the_owners_refusals_are_raised_on_the_forwarding_process(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """Resuming a running run, completing a stale attempt or pausing an ended run through
    the process that does not own it raises what the owner raised, typed."""
    a, b = pair
    run_id = await a.start("three_steps", {"n": 1}, task_to_group={"step_a": "remote"})
    await a.settle()
    with pytest.raises(InvalidOperation, match=r"not paused|PAUSED") as refused:
        await b.resume(run_id)
    assert refused.value.run_id == run_id
    task = await a.poll("step_a", group="remote")
    assert task is not None
    await b.complete(task.id, {"n": 10})  # the owner applies it: the caller hears None
    with pytest.raises(StaleTask) as stale:
        await b.complete(task.id, {"n": 11})  # again: stale at the owner
    assert stale.value.task_id == task.id
    done = await b.wait(run_id, timeout=30)
    assert done.output == {"result": 12}
    with pytest.raises(InvalidOperation):
        await b.pause(run_id)
    with pytest.raises(InvalidOperation, match="no WAIT or HUMAN task 'nope'"):
        await b.signal(run_id, "nope", {})
    with pytest.raises(NotFound):
        await b.pause("no-such-run")
    assert await parts(a).inbox.size() == 0
    conn = await asyncpg.connect(pg_url)
    try:  # every outcome was taken by its poster: none left behind
        assert await conn.fetchval("SELECT count(*) FROM cadenza.inbox_outcome") == 0
    finally:
        await conn.close()


async def test_pause_through_one_process_then_resume_on_the_owner_keeps_their_order(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """`pause` on b returns only once the owner a applied it (held back here until then), so
    a `resume` on a after it finds the run paused and the run ends RUNNING, not PAUSED."""
    a, b = pair
    run_id = await a.start("approval", {})
    await a.settle()
    gate = Gate(parts(a))
    pause = asyncio.ensure_future(b.pause(run_id))
    with anyio.fail_after(30):
        await gate.reached.wait()  # a took the pause from its inbox, not applied yet
    await asyncio.sleep(0)
    assert not pause.done()  # acknowledged only once applied
    gate.open.set()
    with anyio.fail_after(30):
        await pause
    assert (await a.get(run_id)).status == "PAUSED"
    await a.resume(run_id)  # the owner, directly
    assert (await b.get(run_id)).status == "RUNNING"
    await b.signal(run_id, "ok", {"by": "ana"})
    assert (await b.wait(run_id, timeout=30)).output == {"by": "ana"}


async def test_a_call_forwarded_while_the_runtime_closes_raises_runtime_closed(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """The owner holds the message; the forwarding runtime closes: its caller gets
    RuntimeClosed, and the owner still applies the message afterwards."""
    a, b = pair
    run_id = await a.start("approval", {})
    await a.settle()
    gate = Gate(parts(a))
    pause = asyncio.ensure_future(b.pause(run_id))
    with anyio.fail_after(30):
        await gate.reached.wait()
    await b.__aexit__(None, None, None)
    with pytest.raises(cadenza.RuntimeClosed):
        await pause
    gate.open.set()
    with anyio.fail_after(30):
        while (await a.get(run_id)).status != "PAUSED":
            await parts(a).drain()


async def test_a_call_whose_owner_died_waits_for_the_takeover_and_gets_the_new_owners_answer(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """a took b's pause from its inbox and died before applying it: b's caller waits; b takes
    a's partitions over, applies the pause itself, and the caller returns (the run PAUSED)."""
    a, b = pair
    run_id = await a.start("approval", {})
    await a.settle()
    gate = Gate(parts(a))  # never opened: a "dies" holding the message
    pause = asyncio.ensure_future(b.pause(run_id))
    with anyio.fail_after(30):
        await gate.reached.wait()
    await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
    await parts(b).tick()  # b takes a's partitions; its inbox then applies the pause
    with anyio.fail_after(30):
        await pause
    assert (await b.get(run_id)).status == "PAUSED"
    assert parts(b).applied == 1


async def paused_behind_a_stale_owner(a: cadenza.Runtime, b: cadenza.Runtime, url: str) -> str:
    """A run a started, still in a's memory as RUNNING, that b took over (a's lease ran out
    on the database's clock; a has not noticed) and paused; its id."""
    remote = {"step_a": "remote"}  # no worker: the run's actor stays in a's memory
    run_id = await a.start("three_steps", {"n": 1}, task_to_group=remote)
    await a.settle()
    assert (await a.get(run_id)).status == "RUNNING"
    await kill_on_the_database_clock(url, parts(a).leases.owner)
    await parts(b).tick()  # b takes a's partitions over; a has not noticed
    await b.settle()
    await b.pause(run_id)
    return run_id


async def test_an_owner_that_lost_its_lease_unawares_does_not_refuse_from_stale_state(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """a's lease ran out and b took the run over and paused it; a, before its next tick,
    still holds the run's actor as RUNNING. A `resume` on a must not be refused from that
    stale state ("not paused"): a finds its lease lost, drops the partition and asks
    again, of b through the inbox: the run resumes. (Found by the shared world's sweep;
    before, the caller got `OwnershipLost` and had to ask again itself.)"""
    a, b = pair
    run_id = await paused_behind_a_stale_owner(a, b, pg_url)
    await a.resume(run_id)  # lost, then forwarded to b
    assert (await b.get(run_id)).status == "RUNNING"
    assert parts(b).applied == 1


async def test_a_stale_owner_reads_a_run_as_its_new_owner_wrote_it(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """a's lease ran out and b took the run over and paused it; a, before its next tick,
    still holds the run's actor as RUNNING. `get` on a says PAUSED, as the journal does.
    Before, a answered RUNNING from its stale memory."""
    a, b = pair
    run_id = await paused_behind_a_stale_owner(a, b, pg_url)
    assert run_id in set(a._engine._runs.keys())  # the stale actor is still there
    assert (await a.get(run_id)).status == "PAUSED"


async def test_a_call_whose_write_an_unaware_stale_owner_had_fenced_is_forwarded_to_the_new_one(
    pair: tuple[cadenza.Runtime, cadenza.Runtime], pg_url: str
) -> None:
    """a's lease ran out and b took the run over; a still holds the run's actor. A signal,
    a terminate and a worker's completion on a each write: the fence refuses the write
    (nothing of it lands), a drops the partition and forwards the call to b, which applies
    it; each caller returns as from a direct call. Before, each raised `OwnershipLost`."""
    a, b = pair
    remote = {"step_a": "remote"}  # no worker: the runs' actors stay in a's memory
    approval = await a.start("approval", {})
    doomed = await a.start("approval", {})
    external = await a.start("three_steps", {"n": 1}, task_to_group=remote)
    await a.settle()
    task = await a.poll("step_a", group="remote")
    assert task is not None
    await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
    await parts(b).tick()  # b takes a's partitions over; a has not noticed
    await b.settle()
    await a.signal(approval, "ok", {"by": "ana"})
    await a.terminate(doomed, "no longer needed")
    await a.complete(task.id, {"n": 10})
    assert (await b.wait(approval, timeout=30)).output == {"by": "ana"}
    assert (await b.wait(doomed, timeout=30)).status == "TERMINATED"
    assert (await b.wait(external, timeout=30)).output == {"result": 12}
    assert parts(b).applied == 3
