"""A rebuilt run table holds the rows the runs' actors wrote: derived from the records alone.

Every column recovery and listings read is compared (status, `terminal` — which says
whether the end still owes a failure run —, key, correlation id, parent, priority,
timers, the chain's head), for finished, failed, paused, waiting and unfinished runs;
only `parked`/`wake_at` differ by design (recovery loads every unfinished run instead).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

import cadenza
from cadenza.actors import Reply
from cadenza.engine._rebuilt_rows import derive_row
from cadenza.persistence._sqlite_repair import rebuild
from cadenza.testing import VirtualClock
from tests.language._defs import simple, workflow

COLUMNS = (
    "stream_id, kind, version, status, terminal, created_at, updated_at, key, correlation_id, "
    "parent_id, priority, timers, created_order, last_stream_seq, last_crc"
)


def _rows(db: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return {row[0]: row for row in conn.execute(f"SELECT {COLUMNS} FROM streams")}


def _waiting() -> dict[str, Any]:
    wait = {"name": "w", "taskReferenceName": "w", "type": "WAIT"}
    return workflow("waiting", {**wait, "inputParameters": {"duration": "60s"}}, simple("after"))


async def _journal(db: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    async with cadenza.Runtime(str(db), clock=clock, seed=5) as rt:
        fragile = simple("t", taskDefinition={"retryCount": 0})
        await rt.register(workflow("fragile", fragile, failureWorkflow="cleanup"))
        await rt.register(workflow("cleanup", simple("c")))
        await rt.register(workflow("plain", simple("p")))
        await rt.register(_waiting())
        rt.worker("p", _done)
        for n in range(5):
            await rt.wait(await rt.start("plain", {"n": n}, key=f"k{n}", correlation_id="c"))
        await rt.start("waiting", priority=3)
        paused = await rt.start("plain", {"n": 9})
        await rt.pause(paused)
        settled = await rt.start("fragile")  # fails; its cleanup run starts, the row settles
        task = await rt.poll("t")
        assert task is not None
        await rt.fail(task.id, "boom")
        await rt.settle()
        assert (await rt.get(settled)).status == "FAILED"

        def lost(*args: Any, **kwargs: Any) -> Reply[str]:  # the start never became durable
            reply: Reply[str] = Reply()
            reply.fail(RuntimeError("simulated crash"))
            return reply

        monkeypatch.setattr(rt._engine, "start_run", lost)
        owing = await rt.start("fragile")  # fails; still owes its cleanup run
        task = await rt.poll("t")
        assert task is not None
        await rt.fail(task.id, "boom")
        await rt.settle()
        assert (await rt.get(owing)).status == "FAILED"
    monkeypatch.undo()


async def _done(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data.get("n", 0) + 1}


async def test_the_rebuilt_rows_are_the_rows_the_actors_wrote(
    tmp_path: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "j.db"
    await _journal(db, clock, monkeypatch)
    written = _rows(db)
    assert {row[3] for row in written.values()} >= {"COMPLETED", "FAILED", "PAUSED", "RUNNING"}
    assert sorted(row[4] for row in written.values() if row[3] == "FAILED") == [0, 1]
    async with aiosqlite.connect(str(db), isolation_level=None) as conn:
        report = await rebuild(conn, str(db), derive_row, ["(asked)"])
    assert report.damaged == {}
    assert report.rows == len(written)
    assert _rows(db) == written
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM streams WHERE parked = 1").fetchone() == (0,)
    async with cadenza.Runtime(str(db), clock=clock, seed=5) as rt:
        rt.worker("p", _done)
        rt.worker("after", _done)
        rt.worker("c", _done)
        await clock.advance(61)
        await rt.settle()
        waiting = await rt.runs(name="waiting")
        assert [run.status for run in waiting] == ["COMPLETED"]
        cleanups = await rt.runs(name="cleanup")
        assert len(cleanups) == 2  # the owed one started at recovery, once
