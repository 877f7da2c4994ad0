"""A torn b-tree page in a SQLite journal is named as damage, never a bare sqlite3 error.

Before: a page of the `streams` table overwritten (a torn write) made `Runtime(path)`
raise `sqlite3.DatabaseError: database disk image is malformed`; now the runtime rebuilds
that table from the records, and read-only inspection names the file and `cadenza recover`. A torn page among a
finished run's records still opens (rows carry snapshots) and serves every run.
"""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

import cadenza
from tests.conftest import three_steps
from tests.isolation._support import add_one, open_rt


async def _journal(db: Path, runs: int) -> None:
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one)
        ids = [await rt.start("three_steps", {"n": n, "pad": "x" * 300}) for n in range(runs)]
        for run_id in ids:
            await rt.wait(run_id)


def _tear(db: Path, table: str) -> None:
    """Overwrite the body of a leaf page of `table` in the middle of the file."""
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        ).fetchall()
    assert len(leaves) > 2, leaves
    pageno = leaves[len(leaves) // 2][0]
    with open(db, "r+b") as file:
        file.seek((pageno - 1) * page + 100)
        file.write(random.Random(pageno).randbytes(page - 200))
        file.flush()
        os.fsync(file.fileno())


async def test_a_torn_page_of_the_run_rows_is_named_as_damage_by_inspection(
    tmp_path: Path,
) -> None:
    """Read-only inspection cannot rebuild the run table: it names the file and the way out."""
    db = tmp_path / "j.db"
    await _journal(db, 300)
    _tear(db, "streams")
    with pytest.raises(cadenza.JournalCorrupted) as caught:
        async with cadenza.inspect(str(db)) as journal:
            await journal.runs(limit=1000)
    assert str(db) in str(caught.value)
    assert "malformed" in str(caught.value)
    assert f"cadenza recover --db {db}" in str(caught.value)


async def test_a_torn_page_of_the_run_rows_is_rebuilt_by_the_runtime(tmp_path: Path) -> None:
    """The run table is derived from the records: opening rebuilds it (test_rebuilt_rows)."""
    db = tmp_path / "j.db"
    await _journal(db, 300)
    _tear(db, "streams")
    async with open_rt(db) as rt:
        runs = await rt.runs(limit=1000)
        assert len(runs) == 300
        assert all(run.status == "COMPLETED" for run in runs)
        assert rt.damaged == []


async def test_a_torn_page_of_finished_runs_records_still_serves_the_runs(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    await _journal(db, 300)
    _tear(db, "records")
    async with open_rt(db) as rt:
        runs = await rt.runs(limit=1000)
        assert len(runs) == 300
        assert all(run.status == "COMPLETED" for run in runs)
