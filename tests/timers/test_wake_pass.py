"""Parked runs woken by one wake-up, handled in one pass (`cadenza.engine.run._woken`, issue 14).

Checked here: the pass wakes every run without an actor step and leaves
nothing in memory; a message sent to a run while the pass holds it waits
for the pass and acts on the state the pass journaled (no second writer);
and a run the pass cannot finish — a read or a commit the journal refuses —
is woken by its actor instead, and still ends.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import cadenza
from cadenza.persistence._faults import JournalFaults
from cadenza.testing import VirtualClock
from tests._passes import WAIT_5S, actor_steps

WAIT_THEN_SIGNAL = {
    "name": "wait_then_signal",
    "tasks": [
        {
            "name": "w",
            "taskReferenceName": "w",
            "type": "WAIT",
            "inputParameters": {"duration": "5 seconds"},
        },
        {"name": "s", "taskReferenceName": "s", "type": "WAIT"},
    ],
}


async def test_runs_woken_together_take_no_actor_step_and_leave_no_actor(
    rt: cadenza.Runtime, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rt.register(WAIT_5S)
    ids = await rt.start_many("wait5", [{"i": i} for i in range(30)])
    await rt.settle()
    commits = rt._engine.journal.stats.commits
    steps = actor_steps(monkeypatch)
    await clock.advance(5)
    assert steps == []  # the pass woke them all
    assert rt._engine.journal.stats.commits - commits == 1  # their ends in one commit
    assert rt._engine.runs_pool().keys() == []  # ended: nothing kept in memory
    for i, run_id in enumerate(ids):
        run = await rt.get(run_id)
        assert (run.status, run.input) == ("COMPLETED", {"i": i})


async def test_a_message_during_the_pass_waits_for_it_and_sees_what_it_journaled(
    db_path: str, clock: VirtualClock
) -> None:
    """A terminate sent while the pass holds the run (between its read and its commit) is
    handled after the pass, on the state it journaled: one writer, and the journal replays."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(WAIT_THEN_SIGNAL)
        ids = await rt.start_many("wait_then_signal", [{} for _ in range(4)])
        await rt.settle()
        journal = rt._engine.journal
        append_many = journal.append_many
        terminated: list[str] = []

        async def terminate(run_id: str) -> None:
            await rt.terminate(run_id, "mid-pass")
            terminated.append(run_id)

        pending: list[asyncio.Task[None]] = []

        async def append_after_a_terminate(appends: Any) -> Any:
            pending.append(asyncio.create_task(terminate(ids[0])))
            for _ in range(20):  # the terminate reaches the run's mailbox, and waits
                await anyio.lowlevel.checkpoint()
            assert terminated == []  # held back by the pass
            return await append_many(appends)

        journal.append_many = append_after_a_terminate  # type: ignore[method-assign]
        await clock.advance(5)
        await asyncio.gather(*pending)
        await rt.settle()
        assert terminated == [ids[0]]
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        run = await rt.get(ids[0])  # replayed from the journal alone
        assert run.status == "TERMINATED"
        assert [(t.ref, t.status) for t in run.tasks] == [("w", "COMPLETED"), ("s", "CANCELED")]
        assert rt.damaged == []
        for run_id in ids[1:]:
            assert [t.status for t in (await rt.get(run_id)).tasks] == ["COMPLETED", "IN_PROGRESS"]


async def test_runs_the_journal_refuses_to_read_or_record_are_woken_by_their_actors(
    db_path: str,
) -> None:
    """One run's read and another's record are refused for a while (real clock): the pass
    wakes the others; those two are put back and end through their actors."""
    definition = {
        **WAIT_5S,
        "tasks": [{**WAIT_5S["tasks"][0], "inputParameters": {"duration": "1 seconds"}}],  # type: ignore[index]
    }
    async with cadenza.Runtime(db_path, seed=3) as rt:
        await rt.register(definition)
        ids = await rt.start_many("wait5", [{"i": i} for i in range(6)])
        await rt.settle()
        unreadable, unwritable = ids[0], ids[1]
        refused: list[str] = []

        def refuse_load(stream_id: str) -> bool:
            if stream_id == unreadable and len(refused) < 3:
                refused.append(stream_id)
                return True
            return False

        def refuse_append(append: Any) -> bool:
            if append.stream_id == unwritable and len(refused) < 6:
                refused.append(append.stream_id)
                return True
            return False

        rt._engine.journal.faults = JournalFaults(  # type: ignore[attr-defined]
            random.Random(1), refuse_load=refuse_load, refuse_append=refuse_append
        )
        ended: dict[str, str] = {}
        all_ended = anyio.Event()

        def on_end(run_id: str, status: str, _at: float) -> None:
            ended[run_id] = status
            if len(ended) == len(ids):
                all_ended.set()

        rt._engine.add_listener(on_end)  # a wait would read the unreadable run itself
        with anyio.fail_after(30):
            await all_ended.wait()
        assert ended == dict.fromkeys(ids, "COMPLETED")
        assert unreadable in refused
        assert unwritable in refused
