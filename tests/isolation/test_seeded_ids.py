"""A seeded runtime reopened on its journal never mints a run id the journal holds.

Before: `Runtime(path, seed=13)` minted the same id sequence at every open, and
a fresh id skips the journal lookup (nothing to load), so the second session's
first start landed on the first session's run.
"""

from __future__ import annotations

from pathlib import Path

import cadenza
from tests.conftest import three_steps
from tests.isolation._support import open_rt, serve


async def test_a_reopened_seeded_runtime_mints_new_ids(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    sessions: list[list[str]] = []
    for session in range(3):
        async with open_rt(db) as rt:  # the same seed every time
            if session == 0:
                await rt.register(three_steps())
            serve(rt)
            ids = [await rt.start("three_steps", {"n": 10 * session + i}) for i in range(2)]
            for run_id in ids:
                assert (await rt.wait(run_id)).output == {
                    "result": 10 * session + 3 + ids.index(run_id)
                }
            sessions.append(ids)
    minted = [run_id for ids in sessions for run_id in ids]
    assert len(set(minted)) == len(minted), sessions
    async with cadenza.inspect(str(db)) as journal:
        runs = await journal.runs(limit=100)
    assert sorted(run.id for run in runs) == sorted(minted)
    assert all(len(run.tasks) == 3 for run in runs)  # none started twice over another
