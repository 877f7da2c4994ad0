"""The simulation's Conductor-like load with schedules: each tick started at most once.

The checker must be able to fail: with a mutant scheduler that starts each
tick's predecessor again, the idempotency keys still hold the invariant;
with keys made unique as well, the checker reports the repeated ticks.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cadenza.core import _schedules
from cadenza.core._schedules import ScheduleState
from cadenza.engine.schedules import _actor as _schedule_actor
from cadenza.testing._simulation.sweep import run_seed


def test_seeds_with_schedules_hold_every_invariant() -> None:
    for seed in range(2):
        result = run_seed(seed)
        assert [str(v) for v in result.violations] == []
        assert result.load_stats["schedule_ticks"] >= 5


def _due_again(state: ScheduleState, now: float) -> tuple[list[float], int, float | None]:
    """A mutant `due`: the tick before `next_at` is due again, every time."""
    ticks, missed, next_at = _schedules.due(state, now)
    every = state.spec.every_s
    if ticks and every is not None:
        ticks = [ticks[0] - every, *ticks]
    return ticks, missed, next_at


def test_keys_keep_a_repeated_tick_from_starting_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_schedule_actor, "due", _due_again)
    result = run_seed(1)
    assert [v for v in result.violations if v.invariant == "schedule"] == []


def test_the_checker_finds_a_tick_started_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()

    def unique(name: str, generation: int, tick: float) -> str:
        return f"schedule:{name}:{generation}@{tick:.6f}#{next(counter)}"

    monkeypatch.setattr(_schedule_actor, "due", _due_again)
    monkeypatch.setattr(_schedule_actor, "tick_key", unique)
    result = run_seed(1)
    found: list[Any] = [v for v in result.violations if v.invariant == "schedule"]
    assert found
    assert "started again" in found[0].detail
