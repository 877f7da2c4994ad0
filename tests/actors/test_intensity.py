"""The restart intensity, OTP's rule: more than max_restarts within period_s gives up."""

from __future__ import annotations

import pytest

from cadenza.actors import RestartWindow


def test_exactly_max_restarts_within_the_period_are_allowed_and_one_more_is_too_many() -> None:
    """Three restarts in a minute pass; the fourth within it escalates."""
    window = RestartWindow(3, 60.0)
    assert [window.record(t) for t in (0.0, 10.0, 20.0)] == [False] * 3
    assert window.record(30.0) is True


def test_a_restart_exactly_period_s_old_still_counts() -> None:
    """OTP keeps restarts with R >= Now - Period: the window's edge is inside it."""
    window = RestartWindow(1, 60.0)
    assert window.record(0.0) is False
    assert window.record(60.0) is True

    later = RestartWindow(1, 60.0)
    assert later.record(0.0) is False
    assert later.record(60.5) is False  # the first one is older than 60 s: forgotten


def test_restarts_spread_beyond_the_period_never_escalate() -> None:
    window = RestartWindow(1, 10.0)
    assert [window.record(t) for t in (0.0, 11.0, 22.0, 33.0)] == [False] * 4
    assert window.count(33.0) == 1
    assert window.count(50.0) == 0


def test_max_restarts_zero_gives_up_on_the_first_crash() -> None:
    assert RestartWindow(0, 5.0).record(0.0) is True


def test_clear_forgets_every_restart() -> None:
    window = RestartWindow(1, 60.0)
    window.record(0.0)
    window.clear()
    assert len(window) == 0
    assert window.record(1.0) is False


@pytest.mark.parametrize(("max_restarts", "period_s"), [(-1, 5.0), (3, 0.0), (3, -1.0)])
def test_a_window_that_means_nothing_is_refused(max_restarts: int, period_s: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RestartWindow(max_restarts, period_s)
