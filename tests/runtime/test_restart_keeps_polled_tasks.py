"""A task an external worker polled, across a restart of the process (`engine/run/_requeue`).

Conductor keeps a polled task IN_PROGRESS across a restart of its server: its
queue message stays unacknowledged for responseTimeoutSeconds, and only
`DeciderService.isResponseTimedOut` (core/src/main/java/com/netflix/conductor/
core/execution/DeciderService.java: `now - task.getUpdateTime()` against the
TaskDef's responseTimeoutSeconds) times it out. cadenza on a shared PostgreSQL
journal does the same (the lease is the queue row's:
tests/postgres/test_rest_on_postgres.py). Before, recovery on SQLite put every
attempt in progress back in its queue, so a restart handed the task to a
second worker while the first still ran it: right for a local worker (it
stopped with the process), not for an external one.

(`rt.poll` returns before the run journals the task's start, and a closing
runtime does not handle the messages still queued, so a poll answered just
before the close is forgotten: its task is SCHEDULED again after the
restart. Conductor persists IN_PROGRESS before the poll returns.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import cadenza
from cadenza import TaskRun
from cadenza.testing import VirtualClock
from tests.language._defs import simple, workflow


async def test_a_restart_does_not_hand_a_polled_task_to_a_second_worker(tmp_path: Path) -> None:
    db = str(tmp_path / "restart.db")
    async with cadenza.Runtime(db) as rt:
        await rt.register(workflow("f", simple("a")))
        run_id = await rt.start("f", {})
        held = await rt.poll("a", worker_id="w1")
        assert held is not None
        await rt.settle()  # its start is journaled (a poll returns before that: see the note)
    async with cadenza.Runtime(db) as rt:
        assert await rt.poll("a", worker_id="w2") is None  # w1 still holds it
        await rt.complete(held.id, {"by": "w1"})
        run = await rt.get(run_id)
        assert run.status == "COMPLETED"
        assert [(t.status, t.worker_id) for t in run.tasks] == [("COMPLETED", "w1")]


async def _held_across_a_restart(
    db: str, clock: VirtualClock, taskdef: dict[str, Any], runs: int = 1
) -> tuple[list[str], TaskRun]:
    """Register, start `runs` runs, poll one task as w1, and close with its start journaled."""
    async with cadenza.Runtime(db, clock=clock) as rt:
        await rt.register(workflow("f", simple("a")))
        await rt.register_task({"name": "a", **taskdef})
        run_ids = [await rt.start("f", {"n": n}) for n in range(runs)]
        held = await rt.poll("a", worker_id="w1")
        assert held is not None
        await rt.settle()
    return run_ids, held


async def test_the_lease_runs_again_from_the_restart_and_times_out_a_worker_gone_too(
    tmp_path: Path,
) -> None:
    """w1 stopped with the process: responseTimeoutSeconds after the restart its attempt times
    out and is retried, as a lease that ran out without the restart would be."""
    clock = VirtualClock(start=1_000.0)
    taskdef = {"responseTimeoutSeconds": 30, "retryCount": 1, "retryDelaySeconds": 0}
    db = str(tmp_path / "lease.db")
    (run_id,), held = await _held_across_a_restart(db, clock, taskdef)
    await clock.advance(100)  # the outage: no lease runs while no process does
    async with cadenza.Runtime(db, clock=clock) as rt:
        await clock.advance(29)
        await rt.settle()
        assert [t.status for t in (await rt.get(run_id)).tasks] == ["IN_PROGRESS"]
        await clock.advance(2)
        await rt.settle()
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == ["TIMED_OUT", "SCHEDULED"]
        retry = await rt.poll("a", worker_id="w2")
        assert retry is not None
        assert retry.id != held.id
        with pytest.raises(cadenza.StaleTask):
            await rt.complete(held.id, {"late": True})


async def test_a_heartbeat_after_the_restart_extends_the_lease(tmp_path: Path) -> None:
    clock = VirtualClock(start=1_000.0)
    db = str(tmp_path / "beat.db")
    (run_id,), held = await _held_across_a_restart(db, clock, {"responseTimeoutSeconds": 30})
    async with cadenza.Runtime(db, clock=clock) as rt:
        await clock.advance(20)
        await rt.heartbeat(held.id)
        await clock.advance(20)  # 40 s after the restart, 20 s after the heartbeat
        await rt.settle()
        assert [t.status for t in (await rt.get(run_id)).tasks] == ["IN_PROGRESS"]
        await rt.complete(held.id, {"by": "w1"})
        await rt.settle()
        run = await rt.get(run_id)
        assert (run.status, run.tasks[0].output) == ("COMPLETED", {"by": "w1"})


async def test_a_held_task_still_counts_against_the_concurrency_limit(tmp_path: Path) -> None:
    """concurrentExecLimit=1: while w1 holds the first run's task across the restart, the
    second run's waits; once w1 completes, it is handed out."""
    clock = VirtualClock(start=1_000.0)
    db = str(tmp_path / "limit.db")
    taskdef = {"concurrentExecLimit": 1, "responseTimeoutSeconds": 300}
    _runs, held = await _held_across_a_restart(db, clock, taskdef, runs=2)
    async with cadenza.Runtime(db, clock=clock) as rt:
        await rt.settle()
        assert await rt.poll("a", worker_id="w2") is None
        await rt.complete(held.id, {"by": "w1"})
        await rt.settle()
        second = await rt.poll("a", worker_id="w2")
        assert second is not None
        assert second.id != held.id


async def test_a_local_workers_attempt_is_put_back_at_once(tmp_path: Path) -> None:
    """A local slot's attempt stopped with the process: the restart queues it again, and the
    worker registered in the new process runs it, with no lease to wait out."""
    db = str(tmp_path / "local.db")  # the real clock: a virtual one holds the close's grace
    started = anyio.Event()

    async def hangs(data: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with cadenza.Runtime(db, shutdown_grace_s=0.0) as rt:
        await rt.register(workflow("f", simple("a")))
        await rt.register_task({"name": "a", "responseTimeoutSeconds": 3600})
        rt.worker("a", hangs)
        run_id = await rt.start("f", {})
        with anyio.fail_after(10):
            await started.wait()
            # its start journaled; not `settle`, which waits for the worker to end (it never does)
            while (await rt.get(run_id)).tasks[0].status != "IN_PROGRESS":  # noqa: ASYNC110
                await anyio.sleep(0.01)

    async def answers(data: dict[str, Any]) -> dict[str, Any]:
        return {"again": True}

    async with cadenza.Runtime(db) as rt:
        rt.worker("a", answers)
        with anyio.fail_after(10):
            run = await rt.wait(run_id)
        assert (run.status, run.tasks[0].output) == ("COMPLETED", {"again": True})
