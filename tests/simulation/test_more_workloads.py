"""The worker-group outage, the WAIT storm and faulty local workers, under the checker, with crashes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cadenza
from cadenza.engine.run import _timing as _run_timing
from cadenza.language._parse import parse_workflow_def
from cadenza.language._validate import validate
from cadenza.persistence import MemoryJournal
from cadenza.testing import VirtualClock
from cadenza.testing._simulation.random_defs import TASK_TYPES, random_definitions
from cadenza.testing._simulation.sweep import run_seed


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_group_outage_delays_only_its_own_group_and_loses_nothing(seed: int) -> None:
    """While the gpu group has no workers, the other groups keep completing; afterwards all runs finish."""
    result = run_seed(seed, workload="group_outage", duration_s=5.0)
    assert result.violations == []
    assert result.load_stats["flowed_during_outage"] > 0
    assert result.runs > 100


@pytest.mark.parametrize("seed", range(1, 3))
def test_a_wait_storm_fires_every_wait_on_time_and_never_early(seed: int) -> None:
    """Two thousand WAITs due within seconds, with crashes: none early, all finished (liveness)."""
    result = run_seed(seed, workload="wait_storm", duration_s=5.0)
    assert result.violations == []
    assert result.load_stats["started"] == 2000


def test_local_workers_that_fail_crash_hang_and_overrun_break_no_invariant() -> None:
    """Across eight seeds every local-worker fault happens, and every run still finishes,
    each attempt ending once, with no slot left busy (a hung call cancelled at its timeout)."""
    results = [run_seed(seed, workload="local_workers", duration_s=2.0) for seed in range(1, 9)]
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []
    for fault in ("hung", "slot_crashes", "overran", "failed"):
        assert sum(r.load_stats[fault] for r in results) > 0, fault
    assert sum(r.crashes for r in results) > 0


def test_a_wait_completed_early_is_caught_in_the_wait_storm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The WAIT check can fail: runs that wake and expire their deadlines 1 ms early are reported (inv 4)."""
    import dataclasses

    expire, next_wake = _run_timing.expire, _run_timing.next_wake

    def wake_early(definition: Any, state: Any, env: Any, now: float) -> Any:
        wake = next_wake(definition, state, env, now)
        return None if wake is None else wake - 0.001

    def expire_early(definition: Any, state: Any, env: Any, now: float, *, since: float) -> Any:
        events, alerts = expire(definition, state, env, now + 0.001, since=since)
        return [dataclasses.replace(event, at=now) for event in events], alerts

    monkeypatch.setattr(_run_timing, "next_wake", wake_early)
    monkeypatch.setattr(_run_timing, "expire", expire_early)
    result = run_seed(1, workload="wait_storm", duration_s=5.0)
    assert any(v.invariant == "inv4" and "WAIT" in v.detail for v in result.violations)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about four CPU-minutes: 100,000 runs, crashes and recoveries
def test_a_wait_storm_of_a_hundred_thousand_timers_fires_each_on_time() -> None:
    """The opt-in storm (--run-slow): 100,000 WAITs due within four seconds, with crashes."""
    result = run_seed(7, workload="wait_storm", duration_s=5.0, storm=100_000)
    assert result.load_stats["started"] == 100_000
    assert result.violations == []


def test_random_definitions_under_operators_and_restarts_break_no_invariant() -> None:
    """Seeded nested definitions with optional and permissive tasks, operators retrying,
    rerunning, restarting, skipping, signalling, pausing and terminating at random, workers
    changing what they returned, timer and group restarts, process crashes: no violation,
    and every kind of fault happened across the seeds."""
    results = [
        run_seed(seed, workload="random_definitions", duration_s=4.0, rate_per_s=20.0)
        for seed in range(1, 4)
    ]
    assert [f"seed {r.seed}: {v}" for r in results for v in r.violations] == []
    for stat in (
        "reopened_runs",
        "signals",
        "skips",
        "mutations",
        "timer_restarts",
        "group_restarts",
    ):
        assert sum(r.load_stats[stat] for r in results) > 0, stat
    assert sum(r.crashes for r in results) > 0


@settings(max_examples=200, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_random_definitions_are_valid_by_construction(rng: random.Random) -> None:
    """The workload's generator, wrapped as a hypothesis strategy: every definition it
    draws parses and passes registration's structural checks."""
    for definition in random_definitions(rng):
        validate(parse_workflow_def(definition), javascript=False)


def test_the_random_definitions_of_twenty_seeds_register() -> None:
    """Registered in a runtime (children before their parents), they are all accepted."""

    async def register(seed: int) -> int:
        definitions = random_definitions(random.Random(seed))
        async with cadenza.Runtime(
            clock=VirtualClock(start=1e9), journal=MemoryJournal(), seed=1
        ) as rt:
            for task_type in TASK_TYPES:
                await rt.register_task({"name": task_type})
            for definition in definitions:
                await rt.register(definition)
        return len(definitions)

    assert sum(asyncio.run(register(seed)) for seed in range(20)) == 20 * 6
