"""Issue 13, item 4: a result is kept until it is durable.

While the disk is full every commit fails. A local worker's result that
arrives then must be written once the disk has room again — never dropped
after a number of attempts (before: 30 of 30 runs stayed RUNNING until a
restart, which re-ran all 30). A caller who waits (a start) gets a typed
error instead of waiting out the outage.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.engine.run import _batches as _run_batches
from cadenza.persistence import Append, JournalFaults, JournalWriteError
from tests.conftest import three_steps
from tests.isolation._support import add_one

RUNS = 30
ATTEMPTS_SEEN = _run_batches.COMMIT_ATTEMPTS + 3  # well past where results were dropped


class DiskFull:
    """Refuses every append while `full`; counts the refused commits of each run."""

    def __init__(self, run_ids: set[str]) -> None:
        self.full = False
        self.run_ids = run_ids
        self.refused: dict[str, int] = {}
        self.past_the_old_limit = asyncio.Event()

    def __call__(self, item: Append) -> bool:
        if not self.full:
            return False
        sid = item.info.stream_id
        self.refused[sid] = self.refused.get(sid, 0) + 1
        if self.run_ids and all(self.refused.get(r, 0) >= ATTEMPTS_SEEN for r in self.run_ids):
            self.past_the_old_limit.set()
        return True


async def test_results_that_finish_while_the_disk_is_full_land_once_it_has_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run_batches, "COMMIT_BACKOFF_S", 0.001)  # a fast outage, same shape
    monkeypatch.setattr(_run_batches, "COMMIT_BACKOFF_MAX_S", 0.02, raising=False)
    entered: list[int] = []
    all_in = asyncio.Event()
    release = asyncio.Event()

    async def held(data: dict[str, Any]) -> dict[str, Any]:
        entered.append(data["n"])
        if len(entered) == RUNS:
            all_in.set()
        await release.wait()
        return {"n": data["n"] + 1}

    async with cadenza.Runtime(str(tmp_path / "j.db"), seed=4) as rt:
        await rt.register(three_steps())
        rt.worker("step_a", held, concurrency=RUNS)
        rt.worker("step_b", add_one)
        rt.worker("step_c", add_one)
        run_ids = [await rt.start("three_steps", {"n": i * 10}) for i in range(RUNS)]
        with anyio.fail_after(30):
            await all_in.wait()
        disk = DiskFull(set(run_ids))
        rt._engine.journal.faults = JournalFaults(random.Random(1), refuse_append=disk)  # type: ignore[attr-defined]
        disk.full = True
        release.set()  # every worker returns its result into the full disk
        with anyio.fail_after(30):
            await disk.past_the_old_limit.wait()
        with pytest.raises(JournalWriteError):  # a caller is told, not kept waiting
            await rt.start("three_steps", {"n": 0})
        with sqlite3.connect(tmp_path / "j.db") as db:  # the journal never saw a result
            assert db.execute(
                "SELECT count(*) FROM streams WHERE status != 'RUNNING'"
            ).fetchone() == (0,)
        disk.full = False
        with anyio.fail_after(30):
            runs = [await rt.wait(r) for r in run_ids]
        assert [run.output["result"] for run in runs] == [i * 10 + 3 for i in range(RUNS)]
        assert sorted(entered) == [i * 10 for i in range(RUNS)]  # no task ran twice
