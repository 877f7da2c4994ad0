"""Issue 13, item 5: damage is quarantined, named and detected.

One damaged run (its first record missing, a record duplicated, a record
failing its checksum) or one damaged definition nobody uses must not stop
the runtime from opening, nor fail `rt.runs()` or `cadenza runs` for the
other runs: it is quarantined (`rt.damaged`) and named by
`JournalCorrupted`; every healthy run is served and finishes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.cli import main
from cadenza.persistence import JournalWriteError
from cadenza.testing import VirtualClock
from tests.conftest import three_steps
from tests.isolation._support import serve

RUNS = 6


async def _journal_with_runs(db: Path) -> list[str]:
    """Three finished runs, three RUNNING ones (their step_b has no worker yet)."""
    async with _open(db, seed=1) as rt:
        await rt.register(three_steps())
        await rt.register(three_steps("unused_flow"))
        serve(rt)
        finished = [await rt.start("three_steps", {"n": i}) for i in range(3)]
        for run_id in finished:
            await rt.wait(run_id)
    async with _open(db, seed=2) as rt:  # a seed of its own: fresh run ids
        rt.worker("step_a", _add_one)
        running = [await rt.start("three_steps", {"n": 10 + i}) for i in range(3)]
        await rt.settle()
    return finished + running


def _open(db: Path, *, seed: int) -> cadenza.Runtime:
    return cadenza.Runtime(str(db), clock=VirtualClock(), seed=seed)


async def _add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def _first_seq(db_conn: sqlite3.Connection, run_id: str) -> int:
    return int(
        db_conn.execute("SELECT min(seq) FROM records WHERE stream_id = ?", (run_id,)).fetchone()[0]
    )


def _drop_first_record(conn: sqlite3.Connection, run_id: str) -> None:
    conn.execute("DELETE FROM records WHERE seq = ?", (_first_seq(conn, run_id),))


def _duplicate_a_record(conn: sqlite3.Connection, run_id: str) -> None:
    conn.execute(
        "INSERT INTO records (seq, stream_id, payload, crc) "
        "SELECT (SELECT max(seq) + 1 FROM records), stream_id, payload, crc "
        "FROM records WHERE seq = ?",
        (_first_seq(conn, run_id),),
    )


def _flip_a_byte(conn: sqlite3.Connection, run_id: str) -> None:
    """In the snapshot, if the run has one (its load starts there), else in its first record."""
    (snapshot,) = conn.execute(
        "SELECT snapshot FROM streams WHERE stream_id = ?", (run_id,)
    ).fetchone()
    if snapshot is not None:
        flipped = bytearray(snapshot)
        flipped[len(flipped) // 2] ^= 0x20
        conn.execute(
            "UPDATE streams SET snapshot = ? WHERE stream_id = ?", (bytes(flipped), run_id)
        )
        return
    seq = _first_seq(conn, run_id)
    (payload,) = conn.execute("SELECT payload FROM records WHERE seq = ?", (seq,)).fetchone()
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x20
    conn.execute("UPDATE records SET payload = ? WHERE seq = ?", (bytes(flipped), seq))


DAMAGE: dict[str, Callable[[sqlite3.Connection, str], None]] = {
    "first record missing": _drop_first_record,
    "record duplicated": _duplicate_a_record,
    "checksum failure": _flip_a_byte,
}


@pytest.mark.parametrize(
    ("damage", "which"),
    [
        *((damage, "running") for damage in DAMAGE),
        ("record duplicated", "finished"),  # a finished run loads from its snapshot onwards
        ("checksum failure", "finished"),
    ],
)
async def test_one_damaged_run_is_quarantined_and_the_others_are_served(
    tmp_path: Path, damage: str, which: str
) -> None:
    """Before: each of these stopped the runtime from opening, or failed rt.runs() for all."""
    db = tmp_path / "j.db"
    run_ids = await _journal_with_runs(db)
    bad = run_ids[1] if which == "finished" else run_ids[4]
    with sqlite3.connect(db) as conn:
        DAMAGE[damage](conn, bad)
    async with _open(db, seed=3) as rt:
        serve(rt)
        listed = await rt.runs()
        assert sorted(run.id for run in listed) == sorted(r for r in run_ids if r != bad)
        assert bad in rt.damaged
        with pytest.raises(cadenza.JournalCorrupted) as named:
            await rt.get(bad)
        assert bad in str(named.value)
        for run_id in run_ids:
            if run_id != bad:
                assert (await rt.wait(run_id)).status == "COMPLETED"
        await rt.register(three_steps())
        assert (await rt.wait(await rt.start("three_steps", {"n": 1}))).output == {"result": 4}


async def test_a_damaged_definition_nobody_uses_does_not_stop_the_runtime(tmp_path: Path) -> None:
    """Before: one flipped byte in an unused definition stopped the runtime from opening."""
    db = tmp_path / "j.db"
    run_ids = await _journal_with_runs(db)
    with sqlite3.connect(db) as conn:
        body = bytearray(
            conn.execute("SELECT body FROM definitions WHERE name = 'unused_flow'").fetchone()[0]
        )
        body[10] ^= 0x01
        conn.execute("UPDATE definitions SET body = ? WHERE name = 'unused_flow'", (bytes(body),))
    async with _open(db, seed=3) as rt:
        serve(rt)
        assert any("unused_flow" in entry for entry in rt.damaged)
        with pytest.raises(cadenza.NotFound):
            await rt.definition("unused_flow")
        for run_id in run_ids:
            assert (await rt.wait(run_id)).status == "COMPLETED"


def test_cadenza_runs_lists_the_healthy_runs_beside_a_damaged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: one run failing its checksum made `cadenza runs` fail for every run."""

    db = tmp_path / "j.db"
    run_ids = anyio.run(_journal_with_runs, db)
    with sqlite3.connect(db) as conn:
        _flip_a_byte(conn, run_ids[1])
    capsys.readouterr()
    assert main(["runs", "--db", str(db), "--limit", "100"]) == 0
    out = capsys.readouterr().out
    for run_id in run_ids:
        if run_id != run_ids[1]:
            assert run_id[:8] in out
    assert main(["show", run_ids[1], "--db", str(db)]) == 2
    said = capsys.readouterr()
    shown = " ".join((said.out + said.err).split())  # the error goes to stderr or stdout
    assert "JournalCorrupted" in shown
    assert "cadenza show" not in shown  # before: its advice pointed at itself
    assert "restore the journal from a backup" in shown


@pytest.mark.parametrize("how", ["unlinked", "replaced"])
async def test_a_journal_file_unlinked_or_replaced_under_a_live_runtime_stops_acknowledging(
    tmp_path: Path, how: str
) -> None:
    """Before: starts kept being acknowledged into a file nobody would read again."""
    db = tmp_path / "j.db"
    async with _open(db, seed=1) as rt:
        await rt.register(three_steps())
        await rt.start("three_steps", {"n": 1})
        if how == "unlinked":
            db.unlink()
        else:
            other = tmp_path / "other.db"
            sqlite3.connect(other).close()
            other.replace(db)
        for n in (2, 3):  # and it stays refused
            with pytest.raises(JournalWriteError) as refused:
                await rt.start("three_steps", {"n": n})
            assert not refused.value.transient
            assert str(db) in str(refused.value.__cause__)
            assert how in str(refused.value.__cause__)


async def test_a_running_run_whose_row_says_ended_is_still_recovered(tmp_path: Path) -> None:
    """Before: flipping the unchecksummed `terminal` column dropped it from recovery for good."""
    db = tmp_path / "j.db"
    run_ids = await _journal_with_runs(db)
    flipped = run_ids[4]  # RUNNING, its step_b queued
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE streams SET terminal = 1 WHERE stream_id = ?", (flipped,))
    async with _open(db, seed=3) as rt:
        serve(rt)
        with anyio.fail_after(10):
            assert (await rt.wait(flipped)).output == {"result": 14}
    with sqlite3.connect(db) as conn:  # its row agrees with its records again
        assert conn.execute(
            "SELECT status, terminal FROM streams WHERE stream_id = ?", (flipped,)
        ).fetchone() == ("COMPLETED", 1)


async def test_a_run_missing_its_latest_record_is_named_not_rolled_back(tmp_path: Path) -> None:
    """Before: deleting a run's latest record silently rolled back its COMPLETED task."""
    db = tmp_path / "j.db"
    run_ids = await _journal_with_runs(db)
    bad = run_ids[4]  # RUNNING: step_a COMPLETED in its latest record
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM records WHERE seq = (SELECT max(seq) FROM records WHERE stream_id = ?)",
            (bad,),
        )
    async with _open(db, seed=3) as rt:
        serve(rt)
        assert bad in rt.damaged
        with pytest.raises(cadenza.JournalCorrupted, match="latest records are missing") as named:
            await rt.get(bad)
        assert named.value.stream_id == bad
        for run_id in run_ids:
            if run_id != bad:
                assert (await rt.wait(run_id)).status == "COMPLETED"
    async with cadenza.inspect(str(db)) as journal:  # inspection names it too
        with pytest.raises(cadenza.JournalCorrupted):
            await journal.get(bad)


def _as_schema_1(db: Path) -> None:
    """Turn a journal into what a cadenza of schema 1 wrote: no chain columns."""
    with sqlite3.connect(db) as conn:
        for table, column in (
            ("records", "stream_seq"),
            ("records", "prev_crc"),
            ("streams", "last_stream_seq"),
            ("streams", "last_crc"),
            ("streams", "snapshot_stream_seq"),
        ):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


async def test_a_schema_1_journal_is_read_as_it_is_and_migrated_on_open(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    run_ids = await _journal_with_runs(db)
    _as_schema_1(db)
    async with cadenza.inspect(str(db)) as journal:  # read-only: read as it is, unchanged
        assert len(await journal.runs()) == RUNS
    async with _open(db, seed=3) as rt:
        serve(rt)
        for run_id in run_ids:  # its unchained runs are served and finish
            assert (await rt.wait(run_id)).status == "COMPLETED"
        fresh = await rt.start("three_steps", {"n": 1})
        assert (await rt.wait(fresh)).output == {"result": 4}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == ("2",)
        numbers = conn.execute(
            "SELECT stream_seq FROM records WHERE stream_id = ? ORDER BY seq", (fresh,)
        ).fetchall()
        assert [n for (n,) in numbers] == list(range(1, len(numbers) + 1))  # new runs chained
