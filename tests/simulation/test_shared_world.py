"""Several runtimes over one shared in-memory journal: paused, cut off, killed; one owner per run."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from cadenza.testing._simulation.shared_bugs import BUGS, refuse_unconfirmed
from cadenza.testing._simulation.shared_world import WorldResult, run_world
from cadenza.testing._simulation.sweep import quiet_logs

DEFAULT_SEEDS = 16  # about 0.3 s each on the 2-core machine
SLOW_SEEDS = 2_000  # --run-slow: about 5 minutes on 2 cores


def _sweep(seeds: range, **options: float) -> list[WorldResult]:
    with quiet_logs():
        return [run_world(seed, **options) for seed in seeds]  # type: ignore[arg-type]


def _found(results: list[WorldResult]) -> list[str]:
    return [f"seed {r.seed}: {v}" for r in results for v in r.violations]


def test_a_bounded_sweep_of_shared_runtimes_finds_no_violation() -> None:
    """Three runtimes under pauses past the lease, partitions and kill -9: every write is
    the current owner's, every key ends with one COMPLETED run, nothing is stuck."""
    results = _sweep(range(DEFAULT_SEEDS))
    assert _found(results) == []
    assert all(r.completed == r.keys for r in results)
    assert sum(r.pauses for r in results) > 0
    assert sum(r.partitions for r in results) > 0
    assert sum(r.crashes for r in results) > 0
    assert sum(r.refused for r in results) > 0  # the fence had late writes to refuse
    assert sum(r.forwarded for r in results) > 0  # signals went through the inbox
    stats = [r.stats for r in results]
    assert sum(s["resumed"] for s in stats) > 0  # paused through one process, resumed...
    assert sum(s["terminated"] for s in stats) > 0  # ... and terminated through random ones


def test_the_same_seed_replays_the_same_history_in_another_process() -> None:
    """Same seed, same accepted writes (owner, epoch, time), whatever PYTHONHASHSEED says."""
    here = _sweep(range(3, 4))[0].trace_hash
    code = (
        "from cadenza.testing._simulation.shared_world import run_world;"
        "from cadenza.testing._simulation.sweep import quiet_logs\n"
        "with quiet_logs(): print(run_world(3).trace_hash)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert there == here


@pytest.mark.parametrize("name", sorted(BUGS))
def test_a_fencing_bug_is_found_within_its_seed_budget(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-injected, each fencing bug makes the checker report its invariant within the budget."""
    inject, kind, budget = BUGS[name]
    inject(monkeypatch)
    with quiet_logs():
        for seed in range(budget):
            result = run_world(seed)
            if any(v.kind == kind for v in result.violations):
                return
    pytest.fail(f"{name}: no [{kind}] violation within {budget} seeds")


def _seed(seed: int) -> WorldResult:
    with quiet_logs():
        return run_world(seed, processes=4, keys=40, duration_s=20.0, faults=12)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_long_sweep_of_shared_runtimes_finds_no_violation() -> None:
    """The opt-in sweep (--run-slow): two thousand seeds of four runtimes and twelve faults."""
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        results = list(pool.map(_seed, range(10_000, 10_000 + SLOW_SEEDS), chunksize=20))
    assert _found(results) == []


def test_a_local_workers_result_outlives_a_reload_that_fails_in_an_outage() -> None:
    """Seed 10,233 of the long sweep: a commit failed while the journal was cut off, and the
    reload after it failed too; the actor crashed and step_c's local result was lost, the run
    stuck RUNNING. The reload is now retried, so the run completes."""
    with quiet_logs():
        result = run_world(10_233, processes=4, keys=40, duration_s=20.0, faults=12)
    assert [str(v) for v in result.violations] == []


def test_an_owner_that_lost_its_lease_unawares_refuses_nothing_from_stale_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seed 34 (55 since stale owners forward calls and read the journal, which changed
    the world's course): a process paused past its lease still held a run's actor; a resume
    asked of it was refused "not paused" from that stale state (the run paused by the new
    owner), and the run stayed PAUSED. A refusal now first confirms the lease
    (`Ownership.confirm`); with that check patched out the seed fails again."""
    with quiet_logs():
        assert [str(v) for v in run_world(55).violations] == []
        refuse_unconfirmed(monkeypatch)
        assert {v.kind for v in run_world(55).violations} >= {"key", "stuck"}


def test_the_world_waits_for_an_operations_answer_before_it_ends() -> None:
    """Seed 10,369 of the long sweep: a terminate asked of a process cut off from the store
    was applied, and the run's row said TERMINATED before the call was answered; the world
    ended then, the client never heard its answer and held the key to COMPLETED. The world
    is now not done while an operation waits for its answer."""
    with quiet_logs():
        result = run_world(10_369, processes=4, keys=40, duration_s=20.0, faults=12)
    assert [str(v) for v in result.violations] == []
