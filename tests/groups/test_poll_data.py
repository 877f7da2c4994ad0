"""The ledger's poll data (routing's active groups), given again between changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cadenza.dispatch._ledger import Ledger
from cadenza.testing import VirtualClock

WITHIN_S = 10.0

_STEPS = st.lists(
    st.tuples(
        st.floats(0.0, 6.0),  # time passing before the step
        st.sampled_from(["a", "b"]),  # task type
        st.sampled_from(["g1", "g2", "g3"]),  # group
        st.booleans(),  # a poll (else only a read of the poll data)
    ),
    max_size=40,
)


def _fresh_answer(polls: dict[tuple[str, str], float], now: float) -> dict[str, frozenset[str]]:
    active: dict[str, set[str]] = {}
    for (task_type, group), at in polls.items():
        if now - at <= WITHIN_S:
            active.setdefault(task_type, set()).add(group)
    return {task_type: frozenset(groups) for task_type, groups in active.items()}


@given(_STEPS)
def test_the_poll_data_given_again_is_always_what_a_fresh_walk_finds(
    steps: list[tuple[float, str, str, bool]],
) -> None:
    """Runs read the poll data at every decision, so the ledger keeps its last answer;
    it must never differ from the answer the polls give at that moment."""
    clock = VirtualClock()
    ledger = Ledger(clock, task_def=lambda _: None, send_run=print, wake_group=print)
    polls: dict[tuple[str, str], float] = {}
    now = 0.0
    for passed, task_type, group, poll in steps:
        now += passed
        if poll:
            ledger.polled(task_type, group, now)
            polls[(task_type, group)] = now
        assert ledger.active_polls(now, WITHIN_S) == _fresh_answer(polls, now)
