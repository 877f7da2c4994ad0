"""The `cadenza` command: the demo runs and resumes; inspection only reads."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cadenza.cli import main


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """The CLI configures logging (it is an application); undo that after each test."""
    cadenza_log = logging.getLogger("cadenza")
    handlers, level = list(cadenza_log.handlers), cadenza_log.level
    yield
    cadenza_log.handlers[:] = handlers
    cadenza_log.setLevel(level)


def _records(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def test_the_demo_runs_its_orders_to_an_end_and_a_rerun_starts_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every order ends COMPLETED or FAILED; running again finds them all by key."""
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--orders", "40"]) == 0
    # The demo's gateway fails on purpose (15% of charges, retried) and its summary counts
    # the retries; a warning and a traceback per failure read as a crash (and broke the
    # Ctrl-C test under load).
    out, err = capsys.readouterr()
    assert "task.worker_failed" not in err
    assert "Traceback" not in err
    retried = re.search(r"retried tasks \(gateway errors\)\D*(\d+)", out)
    assert retried is not None, out
    assert int(retried.group(1)) > 0, out
    with sqlite3.connect(db) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM streams GROUP BY status").fetchall()
        )
    assert sum(statuses.values()) == 40
    assert set(statuses) <= {"COMPLETED", "FAILED"}
    assert main(["demo", "--db", str(db), "--orders", "40"]) == 0
    out = capsys.readouterr().out
    assert "40 orders already in the journal (40 finished" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM streams").fetchone()[0] == 40


def test_runs_and_show_read_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inspecting a journal appends nothing to it, even with unfinished runs inside."""
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--orders", "5"]) == 0
    before = _records(db)
    capsys.readouterr()
    assert main(["runs", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "order_pipeline" in listing
    with sqlite3.connect(db) as conn:
        run_id = conn.execute("SELECT stream_id FROM streams LIMIT 1").fetchone()[0]
    assert main(["show", run_id, "--db", str(db), "--json"]) == 0
    assert f'"id": "{run_id}"' in capsys.readouterr().out
    assert _records(db) == before


def test_inspection_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown run or a missing file is a clear error (exit 2); no file is created."""
    missing = tmp_path / "missing.db"
    assert main(["runs", "--db", str(missing)]) == 2
    assert not missing.exists()
    assert "NotFound" in capsys.readouterr().err
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--orders", "2"]) == 0
    assert main(["show", "no-such-run", "--db", str(db)]) == 2
