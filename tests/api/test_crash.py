"""A real crash test: SIGKILL a process running workflows, recover from its journal."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio

import cadenza

RUNS = 150
KILLS = 4
SEED = 20261122
ROOT = Path(__file__).resolve().parents[2]


def _spawn(db: Path, workdir: Path, generation: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.crash_child",
            str(db),
            str(workdir),
            str(generation),
            str(RUNS),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_at_random_moments_loses_nothing_and_repeats_no_completed_effect(
    tmp_path: Path,
) -> None:
    """After several SIGKILLs and a last recovery: each keyed run COMPLETED once, effects at least once,
    no effect re-run after its completion was journaled, nothing RUNNING, and the database intact."""
    rng = random.Random(SEED)
    db = tmp_path / "crash.db"
    kills = 0
    generation = 0
    while kills < KILLS:
        child = _spawn(db, tmp_path, generation)
        # wait until the child has recovered and begun working, then kill it a seeded moment later
        marker = tmp_path / f"completed-{generation}.txt"
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 1.0))
        generation += 1
        if child.poll() is not None:
            child.communicate()
            break  # it finished before the kill: nothing left to interrupt
        child.send_signal(signal.SIGKILL)
        child.communicate()  # reap it and close its pipes
        kills += 1
    final = _spawn(db, tmp_path, generation)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()[-3000:]
    assert b"DONE" in out
    assert kills >= 1

    async def inspect() -> list[cadenza.WorkflowRun]:
        async with cadenza.Runtime(str(db)) as rt:
            return await rt.runs(limit=1000)

    runs = anyio.run(inspect)
    assert len(runs) == RUNS  # one run per key, however often it was started
    assert Counter(run.status for run in runs) == {cadenza.WorkflowStatus.COMPLETED: RUNS}
    assert sorted(run.output["result"] for run in runs) == [n + 3 for n in range(RUNS)]

    effects = [line.split() for line in (tmp_path / "effects.txt").read_text().splitlines()]
    by_task: dict[str, list[int]] = {}
    for task_id, gen in effects:
        by_task.setdefault(task_id, []).append(int(gen))
    completed_tasks = {task.id for run in runs for task in run.tasks if task.status == "COMPLETED"}
    assert completed_tasks <= set(by_task)  # every completed task's effect happened at least once
    for gen in range(generation + 1):
        already_done = set((tmp_path / f"completed-{gen}.txt").read_text().split())
        rerun = {task_id for task_id, gens in by_task.items() if gen in gens} & already_done
        assert not rerun, (
            f"generation {gen} re-ran tasks whose completion was journaled: {sorted(rerun)[:5]}"
        )
    for task_id, gens in by_task.items():
        assert len(gens) == len(set(gens)), f"{task_id} ran twice within one process"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert os.path.getsize(db) > 0
