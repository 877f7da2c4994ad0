"""A torn page of the run table (`streams`) is rebuilt from the records; every readable run
is served, a run whose own records are torn is quarantined by name.

Before: the torn page was named (`JournalCorrupted`), but no run was served at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cadenza
from tests._logs import capture_logs
from tests.conftest import three_steps
from tests.isolation._support import add_one, open_rt, serve
from tests.isolation.test_torn_page import _tear

ROOT = Path(__file__).resolve().parents[2]
FINISHED, UNFINISHED, PAUSED = 150, 120, 10


async def _journal(db: Path) -> dict[str, list[str]]:
    """Finished runs, runs waiting at step_c (no worker for it), and paused ones."""
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        serve(rt)
        done = [await rt.start("three_steps", {"n": n, "pad": "x" * 300}) for n in range(FINISHED)]
        for run_id in done:
            await rt.wait(run_id)
    async with open_rt(db) as rt:
        for task_type in ("step_a", "step_b"):
            rt.worker(task_type, add_one)
        waiting = [
            await rt.start("three_steps", {"n": n, "pad": "y" * 300}) for n in range(UNFINISHED)
        ]
        await rt.settle()
        for run_id in waiting[:PAUSED]:
            await rt.pause(run_id)
        await rt.settle()
    return {"done": done, "waiting": waiting}


def _leaf_rowids(db: Path, pageno: int) -> list[int]:
    """The rowids of the cells of table leaf page `pageno` (SQLite's file format, 1.6)."""
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = db.read_bytes()[(pageno - 1) * page : pageno * page]
    assert data[0] == 0x0D, data[0]  # a table b-tree leaf
    cells = int.from_bytes(data[3:5], "big")

    def varint(at: int) -> tuple[int, int]:
        value = 0
        for i in range(9):
            byte = data[at + i]
            if i == 8:
                return (value << 8) | byte, at + 9
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value, at + i + 1
        raise AssertionError("unreachable")

    rowids = []
    for n in range(cells):
        cell = int.from_bytes(data[8 + 2 * n : 10 + 2 * n], "big")
        _size, after = varint(cell)
        rowids.append(varint(after)[0])
    return rowids


def _tear_records_of_waiting_runs(db: Path, waiting: list[str]) -> set[str]:
    """Tear a leaf of `records` holding records of unfinished runs; the runs it held."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [
            row[0]
            for row in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'records' AND pagetype = 'leaf' "
                "ORDER BY pageno"
            )
        ]
        owner = dict(conn.execute("SELECT seq, stream_id FROM records"))
    for pageno in leaves[len(leaves) // 2 :]:  # not the last: it holds the journal's last seq
        held = {owner[seq] for seq in _leaf_rowids(db, pageno)}
        if held and held <= set(waiting):
            break
    else:
        raise AssertionError("no leaf of records holds only unfinished runs")
    with open(db, "r+b") as file:
        file.seek((pageno - 1) * page + 100)
        file.write(bytes(page - 200))  # zeros: the cells' bodies are gone
        file.flush()
        os.fsync(file.fileno())
    return held


def _tear_both(db: Path, waiting: list[str]) -> set[str]:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    held = _tear_records_of_waiting_runs(db, waiting)
    _tear(db, "streams")
    return held


async def _every_other_run_is_served(
    db: Path, ids: dict[str, list[str]], torn: set[str]
) -> list[str]:
    with capture_logs() as logs:
        async with open_rt(db) as rt:
            serve(rt)
            damaged = list(rt.damaged)
            assert damaged, "a torn page of records damages the runs it held"
            assert set(damaged) <= torn
            for run_id in damaged:
                with pytest.raises(cadenza.JournalCorrupted) as caught:
                    await rt.get(run_id)
                assert caught.value.stream_id == run_id
                assert run_id in str(caught.value)
                with pytest.raises(cadenza.JournalCorrupted, match=run_id):
                    await rt.wait(run_id)
            for run_id in ids["done"]:
                assert (await rt.get(run_id)).status == "COMPLETED"
            for run_id in ids["waiting"]:
                if run_id in damaged:
                    continue
                if (await rt.get(run_id)).status == "PAUSED":
                    await rt.resume(run_id)
                run = await rt.wait(run_id)
                assert run.status == "COMPLETED", run
            listed = await rt.runs(limit=1000)
            assert len(listed) == FINISHED + UNFINISHED - len(damaged)
            assert not {run.id for run in listed} & set(damaged)
    warned = [e for e in logs if e["event"] == "runtime.runs_damaged"]
    assert warned, logs
    assert set(warned[0]["runs"]) == set(damaged)
    return damaged


async def test_a_torn_run_table_is_rebuilt_and_every_readable_run_is_served(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    ids = await _journal(db)
    torn = _tear_both(db, ids["waiting"])
    records_before = _record_count(db)
    damaged = await _every_other_run_is_served(db, ids, torn)
    assert _record_count(db) > records_before  # none lost, the resumed runs' added
    async with open_rt(db) as rt:  # a second opening finds the table sound: same damage named
        assert set(rt.damaged) == set(damaged)


def _record_count(db: Path) -> int:
    """Records counted through the index (the table has a torn page)."""
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT count(*) FROM records INDEXED BY records_by_stream")
        return int(found.fetchone()[0])


def _cadenza(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cadenza.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tables(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        return {
            "schema": conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall(),
            "streams": conn.execute("SELECT * FROM streams ORDER BY stream_id").fetchall(),
            "records": conn.execute(
                "SELECT count(*), max(seq) FROM records INDEXED BY records_by_stream"
            ).fetchall(),
        }


async def test_cadenza_recover_rebuilds_offline_and_a_second_run_is_a_no_op(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    ids = await _journal(db)
    torn = _tear_both(db, ids["waiting"])
    first = _cadenza("recover", "--db", str(db), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["rebuilt"] is True
    assert report["damage"]
    assert report["damaged"]
    assert set(report["damaged"]) <= torn
    assert report["rows"] == FINISHED + UNFINISHED - len(report["damaged"])
    assert report["kept_as"].startswith("streams_damaged_")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA quick_check(streams)").fetchall() == [("ok",)]
        records_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'")
        assert "REFERENCES streams (" in records_sql.fetchone()[0]
    before = _tables(db)
    second = _cadenza("recover", "--db", str(db), "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["rebuilt"] is False
    assert again["damaged"] == {}
    assert set(again["quarantined"]) == set(report["damaged"])
    assert _tables(db) == before
    text = _cadenza("recover", "--db", str(db))
    assert "nothing to rebuild" in text.stdout, text
    await _every_other_run_is_served(db, ids, set(report["damaged"]))


async def test_cadenza_recover_is_refused_while_a_live_owner_holds_the_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        refused = _cadenza("recover", "--db", str(db))
    assert refused.returncode == 2, refused
    assert "JournalBusy" in refused.stderr
    assert str(os.getpid()) in refused.stderr


async def test_without_a_row_deriver_a_torn_run_table_names_cadenza_recover(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    ids = await _journal(db)
    _tear_both(db, ids["waiting"])
    journal = cadenza.persistence.SqliteJournal(str(db))
    with pytest.raises(cadenza.JournalCorrupted, match="cadenza recover --db"):
        await journal.open()


async def test_a_torn_page_of_records_alone_names_each_run_it_damaged(tmp_path: Path) -> None:
    """The run table sound, a torn page of records: each run it held is named, not the file."""
    db = tmp_path / "j.db"
    ids = await _journal(db)
    torn = _tear_records_of_waiting_runs(db, ids["waiting"])
    async with open_rt(db) as rt:
        serve(rt)
        damaged = list(rt.damaged)
        assert damaged
        assert set(damaged) <= torn
        for run_id in damaged:
            with pytest.raises(cadenza.JournalCorrupted) as caught:
                await rt.get(run_id)
            assert caught.value.stream_id == run_id
            assert run_id in str(caught.value)
        for run_id in set(ids["waiting"]) - torn:
            if (await rt.get(run_id)).status == "PAUSED":
                await rt.resume(run_id)
            assert (await rt.wait(run_id)).status == "COMPLETED"
