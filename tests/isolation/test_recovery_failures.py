"""One run whose recovery raises (for a reason other than damage) concerns that run alone.

The runtime still opens and every other run is recovered and served; the
failing run is recovered again with a back-off (a transient cause ends in its
recovery) and, while it keeps failing, is named with its error in
`rt.unrecovered`. The failure is injected deterministically: the engine's read
of one run id raises. (The takeover on PostgreSQL: tests/postgres/test_takeover_faults.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cadenza
from cadenza.engine._host import Engine
from cadenza.persistence import Loaded
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.conftest import three_steps
from tests.isolation._support import add_one, open_rt, serve
from tests.observe.test_metrics import scrape, value


async def _three_running(db: Path) -> list[str]:
    """Three RUNNING runs: step_a done, step_b with no worker yet."""
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        rt.worker("step_a", add_one)
        runs = [await rt.start("three_steps", {"n": i}) for i in range(3)]
        await rt.settle()
    return runs


def _clock(rt: cadenza.Runtime) -> VirtualClock:
    clock = rt._engine.clock
    assert isinstance(clock, VirtualClock)
    return clock


def _unreadable(monkeypatch: pytest.MonkeyPatch, run_id: str) -> list[int]:
    """The engine's reads of `run_id` raise (a read refused, not damage); how many were tried."""
    tried: list[int] = []
    load_run = Engine.load_run

    async def failing(engine: Engine, wanted: str) -> Loaded | None:
        if wanted == run_id:
            tried.append(1)
            raise RuntimeError(f"read of {wanted} refused")
        return await load_run(engine, wanted)

    monkeypatch.setattr(Engine, "load_run", failing)
    return tried


async def test_a_run_whose_recovery_raises_neither_stops_the_open_nor_the_other_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime opens, the other two runs finish; the bad one is retried with a back-off,
    reported in `rt.unrecovered` (naming it and the error), and recovered once the cause
    goes away."""
    db = tmp_path / "j.db"
    bad, *good = await _three_running(db)
    tried = _unreadable(monkeypatch, bad)
    with capture_logs() as logs:
        async with open_rt(db) as rt:
            serve(rt)
            for i, run_id in enumerate(good, start=1):
                assert (await rt.wait(run_id, timeout=30)).output == {"result": i + 3}
            assert len(tried) == 1
            assert rt.unrecovered == {}  # one failure: retried, not reported yet
            await _clock(rt).advance(30)
            assert len(tried) >= 3
            assert list(rt.unrecovered) == [bad]
            assert bad in rt.unrecovered[bad]
            assert "refused" in rt.unrecovered[bad]
            assert rt.damaged == []  # not damage: nothing quarantined
            assert value(scrape(rt.metrics), "cadenza_runs_unrecovered") == 1
            monkeypatch.undo()  # the cause went away
            await _clock(rt).advance(120)
            assert (await rt.wait(bad, timeout=30)).output == {"result": 3}
            assert rt.unrecovered == {}
            assert value(scrape(rt.metrics), "cadenza_runs_unrecovered") == 0
    events = [entry["event"] for entry in logs]
    assert "runtime.run_not_recovered" in events
    assert "runtime.run_recovered_late" in events


async def test_a_run_that_keeps_failing_is_retried_ever_more_slowly_and_stays_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The back-off doubles to its cap: an hour costs tens of attempts, not thousands; the
    run stays named in `rt.unrecovered` and the runtime closes cleanly."""
    db = tmp_path / "j.db"
    bad, *good = await _three_running(db)
    tried = _unreadable(monkeypatch, bad)
    async with open_rt(db) as rt:
        serve(rt)
        await _clock(rt).advance(3600)
        assert 10 <= len(tried) <= 130
        assert list(rt.unrecovered) == [bad]
        assert [(await rt.get(r)).status for r in good] == ["COMPLETED", "COMPLETED"]
