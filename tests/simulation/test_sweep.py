"""The bounded seed sweep of the Conductor-like load: crashes, failures, zero violations."""

from __future__ import annotations

import os

import pytest

from cadenza.testing._simulation.sweep import run_seed, run_seeds

DEFAULT_SEEDS = 15  # x 2 simulated seconds at 90 workflows/s, up to 2 crashes each (the default
# run's 10-minute budget; --run-slow sweeps SLOW_SEEDS)
SLOW_SEEDS = 10_000  # x 1 simulated second, up to 3 crashes each, on every core


def _sweep(seeds: range, **kwargs: float) -> list[str]:
    found = []
    for seed in seeds:
        result = run_seed(seed, **kwargs)  # type: ignore[arg-type]
        found.extend(f"seed {seed}: {v}" for v in result.violations)
    return found


def test_a_bounded_sweep_of_the_conductor_load_finds_no_violation() -> None:
    """Every invariant holds for each seed, through crashes, retries and duplicates."""
    assert _sweep(range(DEFAULT_SEEDS), duration_s=2.0) == []


def test_a_sweep_with_message_delays_finds_no_violation() -> None:
    """Reordering across senders (each sender's order kept) breaks no invariant."""
    assert _sweep(range(100, 106), duration_s=3.0, delay_max_s=0.01) == []


def test_ten_times_the_conductor_rate_finds_no_violation() -> None:
    """900 workflows/s (ten times the rate at which Conductor lost track of runs), with every fault."""
    results = [run_seed(seed, duration_s=0.5, rate_per_s=900.0, crashes_max=2) for seed in range(3)]
    assert sum(r.runs for r in results) > 750
    assert sum(r.load_stats["sweeps"] for r in results) > 0  # repairs and verifies raced too
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []


@pytest.mark.slow
@pytest.mark.timeout(5400)  # ~0.55 CPU-s a seed: about 46 minutes on 2 idle cores
def test_a_long_sweep_of_the_conductor_load_finds_no_violation() -> None:
    """The opt-in sweep (--run-slow): ten thousand seeds, shared by every core."""
    options = {"duration_s": 1.0, "crashes_max": 3}
    results = run_seeds(range(100_000, 100_000 + SLOW_SEEDS), os.cpu_count() or 1, options)
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 5 minutes on 2 cores
def test_a_long_sweep_at_ten_times_the_rate_finds_no_violation() -> None:
    """The opt-in sweep at 900 workflows/s: two hundred seeds of two simulated seconds."""
    options = {"duration_s": 2.0, "rate_per_s": 900.0, "crashes_max": 3}
    results = run_seeds(range(200_000, 200_200), os.cpu_count() or 1, options)
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 2 minutes on 2 cores
def test_a_long_sweep_of_faulty_local_workers_finds_no_violation() -> None:
    """The opt-in sweep of local workers that fail, crash, hang and overrun: a thousand seeds."""
    options = {"workload": "local_workers", "duration_s": 1.0, "crashes_max": 3}
    results = run_seeds(range(300_000, 301_000), os.cpu_count() or 1, options)
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []


def test_strict_priority_order_holds_even_within_the_timer_resolution() -> None:
    """Seed 5 (1.08 simulated s), which once caught 1 ms timer rounding breaking invariant 3, holds with no slack."""
    result = run_seed(5, duration_s=1.08, timer_slack_s=0.0)
    assert [v for v in result.violations if v.invariant == "inv3"] == []


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 5 minutes on 2 cores
def test_a_long_sweep_of_random_definitions_finds_no_violation() -> None:
    """The opt-in sweep of seeded nested definitions under operators, mutating workers,
    timer and group restarts and crashes: two hundred seeds of 3.6 simulated seconds."""
    options = {"workload": "random_definitions", "duration_s": 3.6, "rate_per_s": 20.0}
    results = run_seeds(range(400_000, 400_200), os.cpu_count() or 1, options)
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []
