"""SIGKILL a process running workflows on PostgreSQL, recover in the next one.

The same child as tests/api/test_crash.py (tests/crash_child.py), pointed at
a PostgreSQL URL instead of a SQLite file: killed at seeded moments while
its group commits are in flight, the server rolls back whatever transaction
the dead client left open, and the next process recovers from what was
committed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

import cadenza

RUNS = 80
KILLS = 3
SEED = 20261206
ROOT = Path(__file__).resolve().parents[2]


def _spawn(url: str, workdir: Path, generation: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", url, str(workdir), str(generation), str(RUNS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_on_postgres_loses_nothing_and_repeats_no_completed_effect(
    pg_url: str, tmp_path: Path
) -> None:
    """After SIGKILLs at seeded moments and a last recovery: each keyed run COMPLETED once,
    every completed task's effect happened, none re-ran after its completion was journaled."""
    rng = random.Random(SEED)
    kills = 0
    generation = 0
    while kills < KILLS:
        child = _spawn(pg_url, tmp_path, generation)
        marker = tmp_path / f"completed-{generation}.txt"
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if not marker.exists() and child.poll() is None:
            child.kill()
            child.communicate()
            pytest.fail("the child never began working within 60 s")
        time.sleep(rng.uniform(0.05, 0.8))
        generation += 1
        if child.poll() is not None:
            _out, err = child.communicate()
            assert child.returncode == 0, err.decode()[-3000:]
            break  # it finished before the kill: nothing left to interrupt
        child.send_signal(signal.SIGKILL)
        child.communicate()
        kills += 1
    final = _spawn(pg_url, tmp_path, generation)
    try:
        out, err = final.communicate(timeout=180)
    finally:
        if final.poll() is None:  # hung: leave no process behind to haunt the next tests
            final.kill()
            final.communicate()
    assert final.returncode == 0, err.decode()[-3000:]
    assert b"DONE" in out
    assert kills >= 1

    async def inspect() -> list[cadenza.WorkflowRun]:
        async with cadenza.Runtime(pg_url) as rt:
            return await rt.runs(limit=1000)

    runs = anyio.run(inspect)
    assert len(runs) == RUNS  # one run per key, however often it was started
    assert Counter(run.status for run in runs) == {cadenza.WorkflowStatus.COMPLETED: RUNS}
    assert sorted(run.output["result"] for run in runs) == [n + 3 for n in range(RUNS)]

    effects = [line.split() for line in (tmp_path / "effects.txt").read_text().splitlines()]
    by_task: dict[str, list[int]] = {}
    for task_id, gen in effects:
        by_task.setdefault(task_id, []).append(int(gen))
    completed = {task.id for run in runs for task in run.tasks if task.status == "COMPLETED"}
    assert completed <= set(by_task)
    for gen in range(generation + 1):
        already_done = set((tmp_path / f"completed-{gen}.txt").read_text().split())
        rerun = {task_id for task_id, gens in by_task.items() if gen in gens} & already_done
        assert not rerun, f"generation {gen} re-ran journaled completions: {sorted(rerun)[:5]}"
    for task_id, gens in by_task.items():
        assert len(gens) == len(set(gens)), f"{task_id} ran twice within one process"
