"""Fairness keys: equal priorities are served round-robin across keys, never across priorities."""

from __future__ import annotations

from typing import Any

from cadenza.dispatch._fairness import FairQueue
from cadenza.testing import VirtualClock
from tests.groups._helpers import START, one_task, runtime


def tenant_task() -> dict[str, Any]:
    """One SIMPLE task whose fairness key is the workflow's `tenant` input."""
    return {
        "name": "tenanted",
        "version": 1,
        "tasks": [
            {
                "name": "work",
                "taskReferenceName": "t",
                "inputParameters": {"fairnessKey": "${workflow.input.tenant}"},
            }
        ],
    }


async def test_one_busy_key_cannot_starve_another_of_equal_priority() -> None:
    """50 tasks of tenant A queued first; B's two tasks come out 2nd and 4th, not after A's."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(tenant_task())
        for _ in range(50):
            await rt.start("tenanted", {"tenant": "A"})
            await clock.advance(0.001)
        b_runs = {await rt.start("tenanted", {"tenant": "B"}) for _ in range(2)}
        order = []
        for _ in range(6):
            task = await rt.poll("work")
            assert task is not None
            order.append("B" if task.run_id in b_runs else "A")
        assert order == ["A", "B", "A", "B", "A", "A"]


async def test_the_correlation_id_is_the_key_when_the_task_names_none() -> None:
    """Runs with different correlation ids alternate; equal ids keep their ready order."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        busy = [await rt.start("one", correlation_id="busy") for _ in range(3)]
        other = await rt.start("one", correlation_id="other")
        order = []
        for _ in range(4):
            task = await rt.poll("work")
            assert task is not None
            order.append(task.run_id)
        assert order == [busy[0], other, busy[1], busy[2]]


async def test_fairness_never_lets_a_lower_priority_pass_a_higher_one() -> None:
    """A busy key's high-priority tasks all go before another key's low-priority task."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(tenant_task())
        low = await rt.start("tenanted", {"tenant": "B"}, priority=1)
        high = [await rt.start("tenanted", {"tenant": "A"}, priority=9) for _ in range(3)]
        order = []
        for _ in range(4):
            task = await rt.poll("work")
            assert task is not None
            order.append(task.run_id)
        assert order == [*high, low]


def test_a_key_that_returns_after_emptying_joins_the_current_round() -> None:
    """A key back after a pause neither jumps the queue twice nor is served last."""
    queue = FairQueue()
    alive = {f"a{i}" for i in range(6)} | {"b0", "b1"}
    for i in range(6):
        queue.push(f"a{i}", 0, float(i), i + 1, "A")
    queue.push("b0", 0, 0.5, 100, "B")
    served = [queue.pop(alive) for _ in range(4)]
    assert served == ["a0", "b0", "a1", "a2"]
    queue.push("b1", 0, 9.0, 101, "B")
    assert [queue.pop(alive) for _ in range(3)] == ["b1", "a3", "a4"]


def test_a_task_handed_back_returns_to_its_place_and_cancelled_ones_are_skipped() -> None:
    """Pop a0, hand it back: it comes out next; a cancelled head is never returned."""
    queue = FairQueue()
    alive = {"a0", "a1", "b0"}
    queue.push("a0", 0, 0.0, 1, "A")
    queue.push("a1", 0, 1.0, 2, "A")
    queue.push("b0", 0, 2.0, 3, "B")
    assert queue.pop(alive) == "a0"
    queue.push("a0", 0, 0.0, 1, "A", handed_back=True)
    assert queue.pop(alive) == "a0"
    alive.discard("b0")
    assert queue.head(alive) == "a1"
    assert queue.pop(alive) == "a1"
    assert queue.pop(alive) is None
    assert not queue
