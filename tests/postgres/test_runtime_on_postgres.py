"""A `Runtime` on PostgreSQL: the same API, closed and reopened, recovering its runs."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.persistence import PostgresJournal
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

WAITING = {
    "name": "waiting",
    "tasks": [
        {"name": "step_a", "taskReferenceName": "a", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "pause", "taskReferenceName": "hold", "type": "WAIT",
         "inputParameters": {"duration": "1 hour"}},
        {"name": "step_b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
        {"name": "approval", "taskReferenceName": "approve", "type": "WAIT"},
    ],
    "outputParameters": {"result": "${b.output.n}", "approved": "${approve.output.by}"},
}  # fmt: skip


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


async def test_a_postgresql_url_selects_the_postgres_journal(pg_url: str) -> None:
    """`Runtime("postgresql://...")` journals in PostgreSQL, not in a SQLite file of that name."""
    rt = cadenza.Runtime(pg_url)
    assert isinstance(rt._engine.journal, PostgresJournal)
    assert rt.path == pg_url


async def test_a_workflow_runs_and_its_runs_recover_after_reopening(
    pg_url: str, clock: VirtualClock
) -> None:
    """Local workers finish a run; a run parked on a WAIT and one waiting for a signal
    are recovered by the next runtime on the same database and finish there."""
    async with cadenza.Runtime(pg_url, clock=clock, seed=1) as rt:
        await rt.register(three_steps())
        await rt.register(WAITING)
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        done = await rt.wait(await rt.start("three_steps", {"n": 1}, key="order-1"))
        assert (done.status, done.output) == ("COMPLETED", {"result": 4})
        waiting = await rt.start("waiting", {"n": 10}, key="order-2")
        await rt.settle()
        run = await rt.get(waiting)
        assert [t.status for t in run.tasks] == ["COMPLETED", "IN_PROGRESS"]
    async with cadenza.Runtime(pg_url, clock=clock, seed=2) as rt:
        assert rt._engine.recovered == 1
        assert await rt.start("three_steps", {"n": 1}, key="order-1") == done.id
        again = await rt.get(done.id)
        assert (again.status, again.output) == ("COMPLETED", {"result": 4})
        rt.worker("step_b", add_one)
        await clock.advance(3600)
        await rt.settle()
        run = await rt.get(waiting)
        assert [t.ref for t in run.tasks] == ["a", "hold", "b", "approve"]
        assert run.tasks[-1].status == "IN_PROGRESS"
    async with cadenza.Runtime(pg_url, clock=clock, seed=3) as rt:
        await rt.signal(waiting, "approve", {"by": "ana"})
        finished = await rt.wait(waiting, timeout=10)
    assert finished.status == "COMPLETED"
    assert finished.output == {"result": 12, "approved": "ana"}
    assert [r.id for r in await _runs(pg_url, clock)] == [waiting, done.id]


async def _runs(url: str, clock: VirtualClock) -> list[cadenza.WorkflowRun]:
    async with cadenza.Runtime(url, clock=clock) as rt:
        return await rt.runs()


async def test_external_workers_and_definitions_survive_a_restart(
    pg_url: str, clock: VirtualClock
) -> None:
    """A task leased when the runtime closed stays its worker's: on PostgreSQL the lease is
    the shared queue row's, not the process's (issue 17, item 4; a lease that ran out is
    handed out again: tests/postgres/test_shared_poll.py). Definitions are journaled."""
    async with cadenza.Runtime(pg_url, clock=clock) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
        task = await rt.poll("step_a", worker_id="w1")
        assert task is not None
        await rt.settle()
    async with cadenza.Runtime(pg_url, clock=clock) as rt:
        assert (await rt.definition("three_steps"))["tasks"][0]["name"] == "step_a"
        assert await rt.poll("step_a", worker_id="w2") is None  # still w1's
        await rt.complete(task.id, {"n": 2})
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == ["COMPLETED", "SCHEDULED"]


async def test_an_unreachable_database_is_named_without_its_password(
    postgres_server: Any,
) -> None:
    """Opening on a server that does not answer raises JournalUnavailable; the password
    never appears in the message."""
    from cadenza.persistence._journal import JournalUnavailable

    url = f"postgresql://cadenza:s3cret@127.0.0.1:{postgres_server.port}/no_such_db"
    with pytest.raises(JournalUnavailable) as caught:
        async with cadenza.Runtime(url):
            pass
    assert "does not exist" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "cadenza:***@127.0.0.1" in str(caught.value)


async def test_a_second_runtime_on_the_same_database_shares_it(
    pg_url: str, clock: VirtualClock
) -> None:
    """Runs are shared between processes now (issue 17): a second Runtime on the same
    database opens (no JournalBusy); a start there, holding no partition yet, goes to the
    owner's inbox, and the owner runs it."""
    async with cadenza.Runtime(pg_url, clock=clock) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        async with cadenza.Runtime(pg_url, clock=clock) as second:
            await second.register(three_steps())
            run_id = await second.start("three_steps", {"n": 1})
            assert (await second.wait(run_id, timeout=30)).output == {"result": 4}
        assert (await rt.get(run_id)).status == "COMPLETED"
