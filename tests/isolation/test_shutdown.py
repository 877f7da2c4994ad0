"""Issue 13, item 6: a quiet, complete shutdown.

Leaving `async with Runtime` while local workers finish returns cleanly
(before: an ExceptionGroup of ActorSystemStopped, 4 times out of 4), and
every caller still waiting — a start in flight, a long poll, a wait for a
run's end — is answered with one typed error, `RuntimeClosed`, instead of
`ActorCrashed` or no answer at all. Nothing acknowledged is lost: the next
start of the runtime finishes the work.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import cadenza
from tests.conftest import three_steps
from tests.isolation._support import open_rt, serve


async def test_leaving_while_local_workers_finish_returns_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    entered = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def held(data: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 4:
            entered.set()
        await release.wait()
        return {"n": data["n"] + 1}

    async with open_rt(db) as rt:
        await rt.register(three_steps())
        rt.worker("step_a", held, concurrency=4)
        run_ids = [await rt.start("three_steps", {"n": i}) for i in range(4)]
        with anyio.fail_after(10):
            await entered.wait()
        release.set()  # the four results come back while the runtime closes
    async with open_rt(db) as rt:  # nothing was lost: the next start finishes the work
        serve(rt)
        with anyio.fail_after(10):
            runs = [await rt.wait(run_id) for run_id in run_ids]
    assert [run.output["result"] for run in runs] == [i + 3 for i in range(4)]


async def test_callers_pending_at_shutdown_are_answered_runtime_closed(tmp_path: Path) -> None:
    """Before: poll(wait=...) and wait(run_id) never returned; starts got ActorCrashed."""
    db = tmp_path / "j.db"
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
        waiting = asyncio.create_task(rt.wait(run_id))
        polling = asyncio.create_task(rt.poll("nobody_serves_this", wait=3600))
        with anyio.fail_after(10):
            await _until(lambda: _parked(rt, run_id))  # both are held by their actors
        starts = [
            asyncio.create_task(rt.start("three_steps", {"n": i}, key=f"k-{i}" if i % 2 else None))
            for i in range(50)
        ]
        for _ in range(3):  # some starts are in flight, some not yet sent
            await asyncio.sleep(0)
    with anyio.fail_after(10):
        outcomes = await asyncio.gather(waiting, polling, *starts, return_exceptions=True)
    assert isinstance(outcomes[0], cadenza.RuntimeClosed), outcomes[0]
    assert isinstance(outcomes[1], cadenza.RuntimeClosed), outcomes[1]
    started = [o for o in outcomes[2:] if isinstance(o, str)]
    refused = [o for o in outcomes[2:] if isinstance(o, cadenza.RuntimeClosed)]
    assert len(started) + len(refused) == 50, [o for o in outcomes[2:] if not isinstance(o, str)]
    async with open_rt(db) as rt:  # a start that was answered is durable
        for i, outcome in enumerate(outcomes[2:]):
            if isinstance(outcome, str):
                assert (await rt.get(outcome)).input == {"n": i}
        serve(rt)
        with anyio.fail_after(10):
            assert (await rt.wait(run_id)).status == "COMPLETED"


async def test_a_call_after_close_is_refused_runtime_closed(tmp_path: Path) -> None:
    async with open_rt(tmp_path / "j.db") as rt:
        await rt.register(three_steps())
    with pytest.raises(cadenza.RuntimeClosed):
        await rt.start("three_steps", {"n": 1})
    with pytest.raises(cadenza.RuntimeClosed):
        await rt.wait("r-1")


def _parked(rt: cadenza.Runtime, run_id: str) -> bool:
    """The wait is among the run actor's waiters and the poll among its group's pollers."""
    engine = rt._engine
    cell = engine._runs._cells.get(run_id)
    actor = cell._instance if cell is not None else None
    group = engine._groups.get(engine.default_group)
    polls = group is not None and any(group[0].pollers.values())
    return polls and actor is not None and bool(actor.waiters)  # type: ignore[attr-defined]


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():  # each step is one turn of the loop: the messages move on
        await anyio.lowlevel.checkpoint()


def _streams(db: Path, where: str = "1") -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)  # beside the live owner
    try:
        return int(conn.execute(f"SELECT count(*) FROM streams WHERE {where}").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


def test_ctrl_c_in_the_demo_prints_no_traceback_and_says_what_is_left(tmp_path: Path) -> None:
    """Before: Ctrl-C printed an ExceptionGroup of ActorSystemStopped, 4 times out of 4."""
    db = tmp_path / "demo.db"
    demo = subprocess.Popen(
        [sys.executable, "-m", "cadenza.cli", "demo", "--db", str(db), "--orders", "150"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )
    try:
        deadline = time.monotonic() + 60
        while _streams(db) < 30:  # orders are flowing: interrupt in the middle
            assert demo.poll() is None, demo.communicate()[0]
            assert time.monotonic() < deadline, "the demo started no orders"
            time.sleep(0.02)
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = " ".join(out.split())
    assert demo.returncode == 130, out
    assert "Traceback" not in out, out
    assert "Error" not in out, out
    left = re.search(r"interrupted: (\d+) of 150 orders unfinished", text)
    assert left is not None, out
    assert "run the same command again to resume them" in text
    unfinished = int(left.group(1))
    assert 0 < unfinished <= 150 - _streams(db, "terminal = 1")
    again = subprocess.run(
        [sys.executable, "-m", "cadenza.cli", "demo", "--db", str(db), "--orders", "150"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert _streams(db, "terminal = 1") == 150  # every order ended, none twice
    assert _streams(db) == 150
