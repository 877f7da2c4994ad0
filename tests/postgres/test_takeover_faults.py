"""Taking partitions over on a shared PostgreSQL journal: what one run, or a move, must not spoil.

- One run whose recovery raises (not damage) must not give the whole takeover
  back: the others are recovered and served, the partitions kept; the failing
  run is retried with a back-off, named in `rt.unrecovered` while it keeps
  failing, and recovered once its cause goes away.
- The per-type timer counts (`max_timers_per_type`) follow the partitions: a
  partition that moves away takes its runs' WAITs out of the counts, the
  process that takes it over counts them.

Heartbeats are ticked by hand and a death is modelled on the database's clock
(see test_shared_runtime.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

import cadenza
from cadenza.engine._host import Engine
from cadenza.persistence import Loaded
from cadenza.persistence._postgres_schema import PARTITIONS, partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import (
    LEASE_S,
    held,
    kill_on_the_database_clock,
    parts,
    prepare,
)


async def taken_over_with_one_read_failing(
    a: cadenza.Runtime, b: cadenza.Runtime, url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """a starts four runs whose `step_a` goes to group `remote` (no worker anywhere: the
    tasks wait in the shared queue), then dies on the database's clock; b takes them over,
    its read of the first one failing until `monkeypatch.undo()`. (That run, the others.)"""
    await prepare(a)
    await prepare(b)
    remote = {"step_a": "remote"}
    bad, *good = [await a.start("three_steps", {"n": i}, task_to_group=remote) for i in range(4)]
    await a.settle()
    load_run = Engine.load_run

    async def failing(engine: Engine, run_id: str) -> Loaded | None:
        if engine is b._engine and run_id == bad:
            raise RuntimeError(f"read of {run_id} refused")
        return await load_run(engine, run_id)

    monkeypatch.setattr(Engine, "load_run", failing)
    await kill_on_the_database_clock(url, parts(a).leases.owner)
    await parts(b).tick()
    await b.settle()
    return bad, good


async def test_one_run_whose_recovery_raises_does_not_give_the_takeover_back(
    pg_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b takes over a dead a: the read of one of a's runs fails in b. b keeps every
    partition, the other runs are recovered; the bad run is reported, then recovered."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        bad, good = await taken_over_with_one_read_failing(a, b, pg_url, monkeypatch)
        assert held(b) == set(range(PARTITIONS))  # kept: not given back for one run
        await parts(b).tick()
        assert parts(b).taken_over == PARTITIONS  # and not taken (over) again
        assert set(b._engine._runs.keys()) == set(good)  # the others: loaded, recovered
        await clock.advance(30)
        assert list(b.unrecovered) == [bad]
        assert "refused" in b.unrecovered[bad]
        monkeypatch.undo()  # the cause went away
        await clock.advance(120)
        await b.settle()
        assert b.unrecovered == {}
        assert set(b._engine._runs.keys()) == {bad, *good}
        served = set()
        for _ in range(4):  # every run's task back in its queue, served here
            task = await b.poll("step_a", group="remote")
            assert task is not None
            served.add(task.run_id)
            await b.complete(task.id, {"n": 100})
        assert served == {bad, *good}
        for run_id in served:
            assert (await b.wait(run_id, timeout=30)).output == {"result": 102}


async def test_timer_counts_follow_the_partitions_that_move(
    pg_url: str, clock: VirtualClock
) -> None:
    """a holds 12 WAITs; half its partitions move to b: each process counts the WAITs of
    the runs it holds, and the two add up to 12. a dies: b counts them all, once."""
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a:
        await prepare(a)
        runs = [await a.start("waiting", {"n": i}) for i in range(12)]
        await a.settle()
        assert a._engine.timer_counts == {"hold": 12}
        async with cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b:
            await prepare(b)
            await parts(a).tick()  # a releases its surplus
            await parts(b).tick()  # b takes it over, recovering its runs
            await b.settle()
            where = Counter("a" if partition_of(r) in held(a) else "b" for r in runs)
            assert where["a"] > 0  # both hold some
            assert where["b"] > 0
            assert a._engine.timer_counts == {"hold": where["a"]}
            assert b._engine.timer_counts == {"hold": where["b"]}
            await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
            await parts(b).tick()
            await b.settle()
            assert b._engine.timer_counts == {"hold": 12}
            await parts(a).tick()  # a wakes up: lost them all
            assert a._engine.timer_counts == {}
            await clock.advance(600)
            for run_id in runs:
                assert (await b.wait(run_id, timeout=30)).status == "COMPLETED"
            assert b._engine.timer_counts == {}


AWAITING_FLOW = {
    "name": "held",
    "tasks": [
        {"name": "enrich", "taskReferenceName": "e", "type": "ENRICH", "asyncComplete": True}
    ],
}


async def test_concurrency_slots_of_awaiting_tasks_follow_the_partitions_that_move(
    pg_url: str, clock: VirtualClock
) -> None:
    """a holds 8 system tasks awaiting their completion, each counting against the type's
    concurrentExecLimit; half a's partitions move to b: each process counts the tasks of the
    runs it holds (b's recovery counts them again), the two add up to 8; completed, none."""
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a:
        a.system_task("ENRICH", lambda task_input: None)
        await a.register(AWAITING_FLOW)
        await a.register_task({"name": "enrich", "concurrentExecLimit": 100})
        runs = [await a.start("held", {}) for _ in range(8)]
        await a.settle()
        assert a._engine.ledger.in_flight == {"enrich": 8}
        async with cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b:
            b.system_task("ENRICH", lambda task_input: None)
            await parts(a).tick()  # a releases its surplus
            await parts(b).tick()  # b takes it over, recovering its runs
            await b.settle()
            in_b = [r for r in runs if partition_of(r) in held(b)]
            assert 0 < len(in_b) < len(runs)
            assert a._engine.ledger.in_flight == {"enrich": len(runs) - len(in_b)}
            assert b._engine.ledger.in_flight == {"enrich": len(in_b)}
            for run_id in runs:
                await (b if run_id in in_b else a).signal(run_id, "e", {})
            await a.settle()
            await b.settle()
            assert a._engine.ledger.in_flight == b._engine.ledger.in_flight == {}


async def test_a_failing_recovery_is_given_up_here_once_its_partition_moves_on(
    pg_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b cannot read one run; before its next attempt b dies (as far as the others can tell)
    and c takes everything over: b stops retrying and forgets the run, c recovers it."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as b,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as c,
    ):
        await prepare(b)
        await prepare(c)
        remote = {"step_a": "remote"}
        bad = await b.start("three_steps", {"n": 1}, task_to_group=remote)
        await b.settle()
        load_run = Engine.load_run
        tried: list[str] = []

        async def failing(engine: Engine, run_id: str) -> Loaded | None:
            if engine is b._engine and run_id == bad:
                tried.append(run_id)
                raise RuntimeError(f"read of {run_id} refused")
            return await load_run(engine, run_id)

        monkeypatch.setattr(Engine, "load_run", failing)
        b._engine.drop_runs(partition_of, {partition_of(bad)})  # b's actor goes: reloaded next
        row = await b._engine.journal.info(bad)
        assert row is not None
        await b._engine.recover([row])  # as a takeover of its partition would
        assert tried == [bad]
        assert bad in b._engine.recovery.retrying
        await clock.advance(30)
        assert list(b.unrecovered) == [bad]
        await kill_on_the_database_clock(pg_url, parts(b).leases.owner)
        await parts(c).tick()
        await c.settle()
        await parts(b).tick()  # b learns it lost every partition
        assert held(b) == set()
        attempts = len(tried)
        await clock.advance(120)
        await b.settle()
        assert len(tried) == attempts  # no attempt on a run owned elsewhere
        assert b.unrecovered == {}
        assert bad not in b._engine.recovery.retrying
        assert bad in set(c._engine._runs.keys())  # c recovered it


async def test_a_poll_passes_over_the_task_of_a_run_whose_recovery_keeps_failing(
    pg_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b takes over a dead a whose four runs' `step_a` tasks wait in the shared queue; the
    read of the oldest one's run fails in b. Polls at b hand out the other three, never the
    read's error; the bad run's task stays queued and is handed out once its run recovers.
    Before, the first poll claimed the bad run's task and raised its read error."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        bad, good = await taken_over_with_one_read_failing(a, b, pg_url, monkeypatch)
        served = []
        for _ in range(3):
            task = await b.poll("step_a", group="remote")
            assert task is not None
            served.append(task.run_id)
            await b.complete(task.id, {"n": 100})
        assert sorted(served) == sorted(good)
        assert await b.poll("step_a", group="remote") is None  # the bad one's: passed over
        monkeypatch.undo()  # the cause went away
        await clock.advance(120)
        await b.settle()
        task = await b.poll("step_a", group="remote", wait=10)
        assert task is not None
        assert task.run_id == bad
