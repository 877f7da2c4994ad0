"""The checker's model of a waiting queue: who overtook whom, without scanning the whole queue."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from cadenza.testing._simulation.checker import _Waiting

Key = tuple[int, float, float]


def _scan(keys: dict[str, Key], priority: int, before: float, since_before: float) -> set[str]:
    """The definition, by brute force: what `better` must return."""
    return {
        task_id
        for task_id, (p, place, since) in keys.items()
        if since < since_before and (p > priority or (p == priority and place < before))
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from([f"t{i}" for i in range(12)]),
            st.sampled_from([0, 10, 50]),
            st.integers(0, 20).map(float),
            st.integers(0, 20).map(float),
            st.booleans(),  # put, or pop
        ),
        max_size=60,
    ),
    st.sampled_from([0, 10, 50]),
    st.integers(0, 21).map(float),
    st.integers(0, 21).map(float),
)
def test_better_is_the_brute_force_answer_after_any_puts_and_pops(
    ops: list[tuple[str, int, float, float, bool]], priority: int, before: float, since: float
) -> None:
    waiting = _Waiting()
    model: dict[str, Key] = {}
    for task_id, p, place, ready, put in ops:
        if put:
            waiting.put(task_id, (p, place, ready))
            model[task_id] = (p, place, ready)
        else:
            assert waiting.pop(task_id) == model.pop(task_id, None)
    assert waiting.keys == model
    assert set(waiting.better(priority, before, since)) == _scan(model, priority, before, since)


def test_a_deep_queue_names_exactly_the_tasks_ahead_of_a_start() -> None:
    """Starting the head of a queue 100,000 deep finds nothing better; a start further back
    finds exactly the tasks ahead of it, in queue order."""
    waiting = _Waiting()
    rng = random.Random(3)
    for i in range(100_000):
        waiting.put(f"t{i}", (0, float(i), float(i)))
    head = waiting.pop("t0")
    assert head == (0, 0.0, 0.0)
    assert waiting.better(0, 0.0, 1e9) == []
    later = rng.randrange(1, 100_000)
    assert waiting.better(0, float(later), 1e9) == [f"t{i}" for i in range(1, later)]
