"""Leases for external workers, and requeue at the original place (DESIGN.md problem 3)."""

from __future__ import annotations

import anyio
import pytest

import cadenza
from cadenza.dispatch._messages import LeaseExpired
from cadenza.testing import VirtualClock
from tests.groups._helpers import START, one_task, runtime

LEASE_S = 10.0


async def _setup(rt: cadenza.Runtime, *, retries: int = 2, delay_s: float = 0) -> None:
    await rt.register(one_task())
    await rt.register_task(
        {
            "name": "work",
            "responseTimeoutSeconds": LEASE_S,
            "retryCount": retries,
            "retryDelaySeconds": delay_s,
        }
    )


async def test_a_lease_holds_until_its_deadline_then_times_out_and_is_retried() -> None:
    """At deadline - 1 ms the attempt is leased; at the deadline it is TIMED_OUT, a retry queued."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt, delay_s=5)
        run_id = await rt.start("one")
        task = await rt.poll("work", worker_id="w1")
        assert task is not None
        await clock.advance_to(START + LEASE_S - 0.001)
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == ["IN_PROGRESS"]
        await clock.advance_to(START + LEASE_S)
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == ["TIMED_OUT", "SCHEDULED"]
        assert run.tasks[1].attempt == 1
        assert await rt.poll("work") is None, "the retry waits out retryDelaySeconds"
        await clock.advance_to(START + LEASE_S + 5)
        retry = await rt.poll("work")
        assert retry is not None
        assert retry.attempt == 1


async def test_a_completion_from_an_expired_lease_is_stale() -> None:
    """Once the lease has expired the worker's completion raises StaleTask and changes nothing."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt)
        run_id = await rt.start("one")
        task = await rt.poll("work")
        assert task is not None
        await clock.advance(LEASE_S)
        with pytest.raises(cadenza.StaleTask):
            await rt.complete(task.id, {"late": True})
        run = await rt.get(run_id)
        assert run.tasks[0].status == "TIMED_OUT"
        assert run.tasks[0].output == {}


@pytest.mark.parametrize("how", ["heartbeat", "update"])
async def test_a_heartbeat_or_update_extends_the_lease(how: str) -> None:
    """A heartbeat (or update) at t+8 moves the deadline to t+18, exactly."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt)
        run_id = await rt.start("one")
        task = await rt.poll("work")
        assert task is not None
        await clock.advance_to(START + 8)
        if how == "heartbeat":
            await rt.heartbeat(task.id)
        else:
            await rt.update(task.id, output={"progress": 1})
        await clock.advance_to(START + 18 - 0.001)
        assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
        await clock.advance_to(START + 18)
        assert (await rt.get(run_id)).tasks[0].status == "TIMED_OUT"
        assert rt._engine.ledger.expired == 1


async def test_a_stale_lease_expiry_changes_nothing() -> None:
    """An expiry carrying an old token, or arriving after completion, is ignored."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt)
        run_id = await rt.start("one")
        task = await rt.poll("work")
        assert task is not None
        old_token = rt._engine.ledger.handed[task.id].token
        await rt.heartbeat(task.id)  # re-leased under a new token
        await rt._engine._runs.ref(run_id).tell(LeaseExpired(task.id, old_token))
        await rt.settle()
        assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
        await rt.complete(task.id, {"ok": True})
        new_token = old_token + 1
        await rt._engine._runs.ref(run_id).tell(LeaseExpired(task.id, new_token))
        await clock.advance(LEASE_S * 3)
        run = await rt.get(run_id)
        assert run.status == "COMPLETED"
        assert [t.status for t in run.tasks] == ["COMPLETED"]
        assert rt._engine.ledger.expired == 0
        assert rt._engine.ledger.handed == {}


async def test_a_lease_expiry_past_the_last_retry_times_the_run_out() -> None:
    """With no retries left, an expired lease ends the run TIMED_OUT."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt, retries=0)
        run_id = await rt.start("one")
        assert await rt.poll("work") is not None
        await clock.advance(LEASE_S)
        run = await rt.get(run_id)
        assert run.status == "TIMED_OUT"
        assert rt._engine.ledger.places == {}, "a place no retry will use is not kept"


async def test_a_retry_after_a_lease_expires_keeps_the_original_place() -> None:
    """A's worker vanished; A's retry is handed out before B, which became ready after A."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt)
        first = await rt.start("one", priority=5)
        await clock.advance(1)
        second = await rt.start("one", priority=5)
        task = await rt.poll("work")
        assert task is not None
        assert task.run_id == first
        await clock.advance(LEASE_S)  # A's lease expires; its retry is queued
        again = await rt.poll("work")
        assert again is not None
        assert (again.run_id, again.attempt) == (first, 1)
        later = await rt.poll("work")
        assert later is not None
        assert later.run_id == second


async def test_a_task_whose_hand_over_fails_keeps_its_original_place() -> None:
    """The poller's caller went away: the task goes back ahead of one enqueued just after it."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task(
            {"name": "work", "rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 100}
        )
        await rt.start("one")
        assert await rt.poll("work") is not None  # uses up the window until START + 100
        first = await rt.start("one", priority=5)
        second = await rt.start("one", priority=5)  # same priority, same ready time
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: rt.poll("work", wait=300))
            await rt.settle()
            tg.cancel_scope.cancel()
        await clock.advance_to(START + 100)  # the group wakes, pops `first`: nobody to take it
        state = rt._engine._groups["default"][0]
        assert state.dispatched == 1
        got = await rt.poll("work")
        assert got is not None
        assert got.run_id == first
        await clock.advance_to(START + 200)
        got = await rt.poll("work")
        assert got is not None
        assert got.run_id == second
