"""`cadenza schedules`: the schedules of a journal, read-only, as lines or JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import cadenza
from cadenza.cli import main
from cadenza.testing import VirtualClock
from tests.schedules._helpers import QUICK

START = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """The CLI configures logging (it is an application); undo that after each test."""
    cadenza_log = logging.getLogger("cadenza")
    handlers, level = list(cadenza_log.handlers), cadenza_log.level
    yield
    cadenza_log.handlers[:] = handlers
    cadenza_log.setLevel(level)


async def _write(db: str) -> None:
    clock = VirtualClock(start=START)
    async with cadenza.Runtime(db, clock=clock, seed=3) as rt:
        await rt.register(QUICK)
        await rt.schedule("hourly", "quick", cron="0 * * * *")
        await rt.schedule("fast", "quick", every_s=30, paused=True)
        await rt.schedule("gone", "quick", every_s=30)
        await rt.unschedule("gone")
        await clock.advance(3601)


def test_schedules_lists_each_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "journal.db")
    anyio.run(_write, db)
    assert main(["schedules", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:3] == ["name", "workflow", "when"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == {"fast", "hourly"}
    assert rows["hourly"][2] == "0 * * * *"
    assert rows["hourly"][6] == "2027-01-15T10:00:00Z"  # the next tick
    assert rows["hourly"][8] == "1"  # started
    assert rows["fast"][5] == "yes"
    assert main(["schedules", "--db", db, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data] == ["fast", "hourly"]
    assert data[1]["last_run_id"]


def test_schedules_of_a_missing_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedules", "--db", str(tmp_path / "none.db")]) == 2
    assert "NotFound" in capsys.readouterr().err
