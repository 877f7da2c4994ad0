"""`rt.start_many` without an actor step per run (`cadenza.engine.run._fresh`, issue 14).

A batch's runs are handled, journaled in one `append_many` and set going in
one pass. Checked here: what parks leaves nothing in memory and still wakes;
what has work in flight keeps its state in memory (no load from the
journal); what the pass does not cover (JavaScript, a child run, a start
the journal refuses) goes through the run's actor and ends the same; and a
caller cancelled mid-commit leaves no durable run without its timer.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import cadenza
from cadenza.persistence import Journal
from cadenza.persistence._faults import JournalFaults
from cadenza.testing import VirtualClock
from tests._passes import WAIT_5S, actor_steps
from tests.conftest import three_steps

SCRIPT_FIRST = {
    "name": "script_first",
    "tasks": [
        {
            "name": "js",
            "taskReferenceName": "js",
            "type": "INLINE",
            "inputParameters": {
                "evaluatorType": "graaljs",
                "expression": "$.n * 2",
                "n": "${workflow.input.n}",
            },
        }
    ],
    "outputParameters": {"doubled": "${js.output.result}"},
}
CHILD_FIRST = {
    "name": "child_first",
    "tasks": [
        {
            "name": "child",
            "taskReferenceName": "child",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": "wait5"},
        }
    ],
}


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def counting_loads(journal: Journal) -> list[str]:
    """The stream ids every `load_many` from now on reads (the journal's reads of runs)."""
    read: list[str] = []
    load_many = journal.load_many

    async def counted(stream_ids: Any) -> Any:
        read.extend(stream_ids)
        return await load_many(stream_ids)

    journal.load_many = counted  # type: ignore[method-assign]
    return read


async def test_a_parked_batch_leaves_no_actor_and_each_run_wakes(
    rt: cadenza.Runtime, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rt.register(WAIT_5S)
    await rt.settle()
    steps = actor_steps(monkeypatch)
    ids = await rt.start_many("wait5", [{"i": i} for i in range(40)])
    await rt.settle()
    assert steps == []  # no run's actor handled a message to start or park
    engine = rt._engine
    assert engine._runs.keys() == []  # not one run actor was made, nor a cell kept
    assert engine._fresh == set()  # nor a minted id left marked fresh (its actor would not load)
    assert engine.gate.running == set()  # parked runs leave the start gate
    await clock.advance(5)
    for i, run_id in enumerate(ids):
        run = await rt.get(run_id)
        assert (run.status, run.input) == ("COMPLETED", {"i": i})
    assert sorted(set(steps)) == sorted(ids)  # woken, each run's actor loaded it and stepped


async def test_runs_with_work_in_flight_keep_their_state_and_are_never_loaded(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(three_steps())
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, add_one)
    read = counting_loads(rt._engine.journal)
    ids = await rt.start_many("three_steps", [{"n": n} for n in range(30)])
    await rt.settle()
    assert read == []  # every run finished from the state its batch start left in memory
    for n, run_id in enumerate(ids):
        assert (await rt.get(run_id)).output == {"result": n + 3}


async def test_starts_the_pass_does_not_cover_go_through_their_actors(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    for definition in (WAIT_5S, SCRIPT_FIRST, CHILD_FIRST):
        await rt.register(definition)
    doubled = await rt.start_many("script_first", [{"n": n} for n in range(5)])
    parents = await rt.start_many("child_first", [{} for _ in range(5)])
    await rt.settle()
    for n, run_id in enumerate(doubled):
        run = await rt.get(run_id)
        assert (run.status, run.output) == ("COMPLETED", {"doubled": n * 2})
    await clock.advance(5)
    for run_id in parents:
        assert (await rt.get(run_id)).status == "COMPLETED"


async def test_a_batch_the_journal_refuses_for_a_while_is_started_by_the_actors(
    db_path: str,
) -> None:
    """The batch's transaction fails (its members refused, then each alone): its runs are
    taken back, each actor retries its start with its back-off (on the real clock) until
    the journal takes it, and each run starts, and runs, exactly once."""
    asked: list[str] = []

    def refuse(append: Any) -> bool:
        if append.info.kind != "three_steps":
            return False
        asked.append(append.stream_id)
        return len(asked) <= 40  # the pass's round and its split, then the actors' first tries

    async with cadenza.Runtime(db_path, seed=2) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        journal = rt._engine.journal
        journal.faults = JournalFaults(random.Random(1), refuse_append=refuse)  # type: ignore[attr-defined]
        with anyio.fail_after(30):
            ids = await rt.start_many("three_steps", [{"n": n} for n in range(10)])
            runs = [await rt.wait(run_id) for run_id in ids]
        assert len(asked) > 20  # the actors asked again after the pass's round and its split
        assert [run.output for run in runs] == [{"result": n + 3} for n in range(10)]
        assert sorted(run.id for run in await rt.runs(name="three_steps")) == sorted(ids)


async def test_a_caller_cancelled_mid_commit_leaves_no_durable_run_without_its_timer(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """The caller is cancelled while the batch's records are being committed: the records
    land all the same, and each durable run still gets its timer and wakes."""
    await rt.register(WAIT_5S)
    await rt.settle()
    journal = rt._engine.journal
    append_many = journal.append_many
    with anyio.CancelScope() as scope:

        async def cancelled_while_committing(appends: Any) -> Any:
            scope.cancel()
            verdicts = await append_many(appends)
            await anyio.lowlevel.checkpoint()  # as a journal that yields once it committed
            return verdicts

        journal.append_many = cancelled_while_committing  # type: ignore[method-assign]
        await rt.start_many("wait5", [{"i": i} for i in range(25)])
    await rt.settle()
    started = await rt.runs(name="wait5")
    assert len(started) == 25  # the commit was under way: it finished
    await clock.advance(5)
    for run in started:
        assert (await rt.get(run.id)).status == "COMPLETED"


async def test_concurrent_single_starts_share_passes_and_commits(
    rt: cadenza.Runtime, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 callers each awaiting its own `rt.start`: gathered into a few passes, no actor step."""
    await rt.register(WAIT_5S)
    await rt.settle()
    stats = rt._engine.journal.stats
    commits = stats.commits
    steps = actor_steps(monkeypatch)
    ids = await asyncio.gather(*(rt.start("wait5", {"i": i}) for i in range(60)))
    await rt.settle()
    assert steps == []
    assert stats.commits - commits < 10  # one commit per pass, not one per start
    await clock.advance(5)
    for i, run_id in enumerate(ids):
        run = await rt.get(run_id)
        assert (run.status, run.input) == ("COMPLETED", {"i": i})
