"""Issue 13, item 3: a failed batch never fails its neighbours.

Appends share commits and loads share reads. The journal's fault points
refuse one member (an append whose correlation id it will not take, a
read of one stream), as a value the journal cannot hold would: the other
members of the commit or read must still land, only the bad one fails
with a typed error, and a wake-up whose load fails is armed again.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.persistence import Append, JournalFaults, JournalWriteError, SqliteJournal
from cadenza.testing import VirtualClock
from tests.conftest import three_steps
from tests.isolation._support import serve
from tests.persistence._helpers import append


def _refusing(correlation_id: str) -> JournalFaults:
    def refuse(item: Append) -> bool:
        return item.info.correlation_id == correlation_id

    return JournalFaults(random.Random(3), refuse_append=refuse)


async def test_a_refused_append_fails_alone_and_its_round_lands(tmp_path: Path) -> None:
    """The round holding it is split: nine appends land, one JournalWriteError of its own."""
    async with SqliteJournal(str(tmp_path / "j.db")) as journal:
        journal.faults = JournalFaults(
            random.Random(1), refuse_append=lambda item: item.info.stream_id == "run-4"
        )
        outcomes = await asyncio.gather(
            *(journal.append(append(f"run-{i}", [{"i": i}])) for i in range(10)),
            return_exceptions=True,
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failed) == 1
        assert isinstance(failed[0], JournalWriteError)
        assert failed[0].stream_id == "run-4"
        assert failed[0].batch_size == 1
        assert await journal.load("run-4") is None
        seqs = [o for o in outcomes if isinstance(o, int)]
        assert sorted(seqs) == list(range(1, 10))  # no seq used up by the failed member
        for i in (0, 1, 2, 3, 5, 6, 7, 8, 9):
            loaded = await journal.load(f"run-{i}")
            assert loaded is not None
            assert loaded.events == [{"i": i}]


async def test_a_round_whose_every_member_fails_fails_each_and_writes_nothing(
    tmp_path: Path,
) -> None:
    async with SqliteJournal(str(tmp_path / "j.db")) as journal:
        journal.faults = JournalFaults(random.Random(1), refuse_append=lambda item: True)
        outcomes = await asyncio.gather(
            *(journal.append(append(f"run-{i}")) for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, JournalWriteError) for o in outcomes)
        journal.faults = None
        assert await journal.append(append("after")) == 1


async def test_starts_sharing_a_commit_with_a_refused_start_all_start(tmp_path: Path) -> None:
    """Before: 10 bad starts made a third of 400 concurrent good starts fail (ActorCrashed)."""
    async with cadenza.Runtime(str(tmp_path / "j.db"), seed=5) as rt:
        await rt.register(three_steps())
        rt._engine.journal.faults = _refusing("refused")  # type: ignore[attr-defined]

        async def start(i: int) -> str:
            bad = i % 40 == 7
            return await rt.start(
                "three_steps", {"n": i}, correlation_id="refused" if bad else f"c-{i}"
            )

        outcomes = await asyncio.gather(*(start(i) for i in range(400)), return_exceptions=True)
        bad = [o for i, o in enumerate(outcomes) if i % 40 == 7]
        good = [o for i, o in enumerate(outcomes) if i % 40 != 7]
        assert all(isinstance(o, JournalWriteError) for o in bad), bad[:3]
        assert [o for o in good if not isinstance(o, str)] == []
        assert len(await rt.runs(limit=1000)) == 390
        rt._engine.journal.faults = None  # type: ignore[attr-defined]
        serve(rt)
        for run_id in good[:5]:
            assert isinstance(run_id, str)
            assert (await rt.wait(run_id)).status == "COMPLETED"


async def _finished_runs(rt: cadenza.Runtime, count: int) -> list[str]:
    await rt.register(three_steps())
    serve(rt)
    run_ids = [await rt.start("three_steps", {"n": i}) for i in range(count)]
    for run_id in run_ids:
        await rt.wait(run_id)
    await rt.settle()
    return run_ids


async def test_one_unreadable_run_never_fails_the_gets_it_shares_a_read_with(
    rt: cadenza.Runtime,
) -> None:
    """Before: one malformed get failed all 300 healthy gets of its batched load."""
    run_ids = await _finished_runs(rt, 300)
    bad = run_ids[150]
    faults = JournalFaults(random.Random(1), refuse_load=lambda sid: sid == bad)
    rt._engine.journal.faults = faults  # type: ignore[attr-defined]
    outcomes = await asyncio.gather(*(rt.get(r) for r in run_ids), return_exceptions=True)
    assert faults.refused >= 2  # the batch, then the bad run alone
    assert isinstance(outcomes[150], BaseException)
    healthy = [o for i, o in enumerate(outcomes) if i != 150]
    assert [o for o in healthy if not isinstance(o, cadenza.WorkflowRun)] == []
    assert {o.status for o in healthy if isinstance(o, cadenza.WorkflowRun)} == {"COMPLETED"}
    rt._engine.journal.faults = None  # type: ignore[attr-defined]
    assert (await rt.get(bad)).status == "COMPLETED"


def _waiting() -> dict[str, Any]:
    return {
        "name": "waiting",
        "tasks": [
            {
                "name": "pause",
                "taskReferenceName": "w",
                "type": "WAIT",
                "inputParameters": {"duration": "60s"},
            }
        ],
    }


@pytest.mark.parametrize("refused", ["one", "all"])
async def test_a_wake_up_whose_load_fails_is_armed_again(
    rt: cadenza.Runtime, clock: VirtualClock, refused: str
) -> None:
    """Before: the timer fired, the load failed and the wake-up was dropped: WAIT for ever."""
    await rt.register(_waiting())
    run_ids = [await rt.start("waiting") for _ in range(20)]
    await rt.settle()
    assert rt._engine._runs.active() == 0  # parked: out of memory, woken by their timers
    unreadable = set(run_ids[:1] if refused == "one" else run_ids)
    faults = JournalFaults(random.Random(1), refuse_load=lambda sid: sid in unreadable)
    rt._engine.journal.faults = faults  # type: ignore[attr-defined]
    await clock.advance(61)
    assert faults.refused > 0
    statuses = [(await _status(rt, r)) for r in run_ids if r not in unreadable]
    assert statuses == ["COMPLETED"] * (20 - len(unreadable))
    rt._engine.journal.faults = None  # type: ignore[attr-defined]
    await clock.advance(5)  # the wake-ups armed again fire, and now load
    assert [(await rt.get(r)).status for r in run_ids] == ["COMPLETED"] * 20


async def _status(rt: cadenza.Runtime, run_id: str) -> str:
    return str((await rt.get(run_id)).status)
