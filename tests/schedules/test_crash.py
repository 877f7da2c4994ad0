"""A real crash test: SIGKILL a process ticking a schedule; no tick is early or started twice."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio

import cadenza
from tests.schedules.schedule_child import EVERY_S

KILLS = 3
SEED = 20261206
ROOT = Path(__file__).resolve().parents[2]


def _spawn(db: Path, workdir: Path, generation: int, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.schedules.schedule_child", str(db), str(workdir),
         str(generation), str(seconds)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_sigkill_never_starts_a_tick_twice_nor_early_nor_loses_one(tmp_path: Path) -> None:
    """Killed at seeded moments while ticking every 20 ms, then recovered: every tick from the
    first to the last has exactly one run, none started before its tick time."""
    rng = random.Random(SEED)
    db = tmp_path / "ticks.db"
    kills = 0
    for generation in range(KILLS):
        child = _spawn(db, tmp_path, generation, 60.0)
        deadline = time.monotonic() + 60
        marker = tmp_path / f"ready-{generation}"
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.poll() is None, child.communicate()[1].decode()[-3000:]
        time.sleep(rng.uniform(0.2, 0.8))
        child.send_signal(signal.SIGKILL)
        child.communicate()
        kills += 1
        time.sleep(rng.uniform(0.0, 0.2))  # down: ticks come due meanwhile
    final = _spawn(db, tmp_path, KILLS, 0.5)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()[-3000:]
    assert b"DONE" in out

    async def read() -> tuple[list[cadenza.WorkflowRun], cadenza.Schedule]:
        async with cadenza.Runtime(str(db), audit_timers=False) as rt:
            runs = await rt.runs(name="ticked", limit=100_000)
            [schedule] = await rt.schedules()
            await rt.pause_schedule("fast")  # this reader must not tick it further
            return runs, schedule

    runs, schedule = anyio.run(read)
    ticks = [run.input["_scheduledTime"] for run in runs]
    assert kills == KILLS
    assert len(runs) > 20
    assert [t for t, n in Counter(ticks).items() if n > 1] == []  # none started twice
    assert all(run.input["_executedTime"] >= run.input["_scheduledTime"] for run in runs)
    ordered = sorted(ticks)
    step_ms = round(EVERY_S * 1000)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert all(abs(gap - step_ms) <= 1 for gap in gaps), "a tick was lost"  # ms rounding
    assert schedule.missed == 0
    assert all(run.status == "COMPLETED" for run in runs)
