"""A checker that cannot fail proves nothing: injected bugs are reported within a budget."""

from __future__ import annotations

import pytest

from simulations.sim.bugs import BUGS
from simulations.sim.sweep import run_seed


def _seeds_to_find(name: str, monkeypatch: pytest.MonkeyPatch) -> int:
    bug = BUGS[name]
    bug.inject(monkeypatch)
    for tried in range(1, bug.seeds_max + 1):
        result = run_seed(tried, **bug.run)
        if any(v.invariant == bug.invariant for v in result.violations):
            return tried
    return 0


def test_skipping_attempt_fencing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepting results for superseded or ended attempts shows as an attempt ending twice."""
    assert _seeds_to_find("skip_fencing", monkeypatch) > 0


def test_a_timer_firing_one_ms_early_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry handed out 1 ms before its ready_at violates invariant 4."""
    assert _seeds_to_find("early_timer", monkeypatch) > 0


def test_a_queue_that_ignores_priority_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO worker-group queue (EasyScheduler's inversion) violates invariant 3."""
    assert _seeds_to_find("ignore_priority", monkeypatch) > 0


def test_a_timer_lost_on_recovery_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping not-yet-due retries while recovering leaves runs unfinished: liveness fails."""
    assert _seeds_to_find("lose_timer_on_recovery", monkeypatch) > 0
