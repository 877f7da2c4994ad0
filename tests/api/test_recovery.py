"""Opening a runtime recovers what the journal says is unfinished."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conftest import three_steps


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


async def test_queued_tasks_survive_a_restart_and_run_once_workers_register(
    db_path: str, clock: VirtualClock
) -> None:
    """Runs waiting for workers resume after reopening, when a worker is registered again."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        run_ids = [await rt.start("three_steps", {"n": i}) for i in range(5)]
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert rt._engine.recovered == 5
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        runs = [await rt.wait(run_id) for run_id in run_ids]
    assert [run.output["result"] for run in runs] == [3, 4, 5, 6, 7]


async def test_an_in_progress_task_stays_with_its_worker_across_a_restart(
    db_path: str, clock: VirtualClock
) -> None:
    """A task an external worker held when the process stopped stays IN_PROGRESS with it, as
    Conductor keeps it (DeciderService.isResponseTimedOut alone ends it): no second worker
    is handed it, and the first one's result is taken. Before, it went back to its queue and
    a second worker ran it too (tests/runtime/test_restart_keeps_polled_tasks.py)."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
        task = await rt.poll("step_a", worker_id="w1")
        assert task is not None
        await rt.settle()
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert await rt.poll("step_a", worker_id="w2") is None
        await rt.complete(task.id, {"n": 2})
        run = await rt.get(run_id)
        assert run.tasks[0].status == "COMPLETED"
        assert run.tasks[0].worker_id == "w1"
        assert run.tasks[1].status == "SCHEDULED"


async def test_a_retry_timer_due_during_the_outage_fires_after_recovery(
    db_path: str, clock: VirtualClock
) -> None:
    """A retry delay that ran out while the process was down fires once it is back."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        await rt.register_task({"name": "step_a", "retryCount": 1, "retryDelaySeconds": 60})
        run_id = await rt.start("three_steps", {"n": 1})
        task = await rt.poll("step_a")
        assert task is not None
        await rt.fail(task.id, "flaky")
    await clock.advance(3600)  # the outage
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        retry = await rt.poll("step_a")
        assert retry is not None
        assert retry.attempt == 1
        assert retry.run_id == run_id


async def test_finished_runs_are_not_recovered_and_stay_readable(
    db_path: str, clock: VirtualClock
) -> None:
    """A finished run is read from its snapshot; it is never loaded into recovery again."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        run_id = await rt.start("three_steps", {"n": 1})
        await rt.wait(run_id)
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert rt._engine.recovered == 0
        run = await rt.get(run_id)
        assert run.status == "COMPLETED"
        assert run.output == {"result": 4}


async def test_a_run_keeps_the_definition_it_started_with(
    db_path: str, clock: VirtualClock
) -> None:
    """Re-registering the same name and version does not change runs already started."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
        changed = three_steps()
        changed["outputParameters"] = {"changed": True}
        await rt.register(changed)
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        run = await rt.wait(run_id)
        assert run.output == {"result": 4}
        fresh = await rt.wait(await rt.start("three_steps", {"n": 1}))
        assert fresh.output == {"changed": True}


async def test_a_damaged_record_is_reported_not_applied(db_path: str, clock: VirtualClock) -> None:
    """A record whose checksum fails is named, never applied; the other runs recover and run."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(three_steps())
        damaged = await rt.start("three_steps", {"n": 1})
        healthy = await rt.start("three_steps", {"n": 2})
    with sqlite3.connect(db_path) as db:
        changed = db.execute(
            "UPDATE records SET payload = CAST(replace(CAST(payload AS TEXT), '\"n\":1', '\"n\":7') AS BLOB) WHERE stream_id = ?",
            (damaged,),
        ).rowcount
    assert changed == 1
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert rt.damaged == [damaged]
        with pytest.raises(cadenza.JournalCorrupted) as caught:
            await rt.get(damaged)
        assert damaged in str(caught.value)
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        assert (await rt.wait(healthy)).output == {"result": 5}
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_runtime_closes_inside_an_enclosing_cancel_scope() -> None:
    """Leaving the block exits the actor system's task group too, so enclosing cancel scopes stay intact."""
    import anyio

    from cadenza.persistence import MemoryJournal

    async def main() -> bool:
        with anyio.CancelScope():
            async with cadenza.Runtime(journal=MemoryJournal()) as rt:
                await rt.register({"name": "t", "tasks": [{"name": "x", "taskReferenceName": "x"}]})
        return True

    assert anyio.run(main)


async def test_runs_finish_on_a_real_file_while_commits_fail_transiently(db_path: str) -> None:
    """Failed commits are redone after a backoff: every run completes, each task once."""
    import random

    from cadenza.persistence import JournalFaults

    calls: list[int] = []

    async def counted(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(data["n"])
        return {"n": data["n"] + 1}

    async with cadenza.Runtime(db_path) as rt:
        faults = JournalFaults(random.Random(7), fail_p=0.2, fail_burst_max=2)
        rt._engine.journal.faults = faults  # type: ignore[attr-defined]
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, counted)
        run_ids = [await rt.start("three_steps", {"n": i * 10}) for i in range(20)]
        runs = [await rt.wait(run_id) for run_id in run_ids]
    assert faults.failed > 0
    assert [run.output["result"] for run in runs] == [i * 10 + 3 for i in range(20)]
    assert len(calls) == 60  # no task ran twice: nothing was acted on before it was durable
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
