"""Property (DESIGN.md invariant 3): dispatch order within a group, isolation across groups.

A model follows the tasks each group holds: its priority, its fairness key
(the run's correlation id, one of three), the time it became ready, and
whether it is ready yet. After every step (`rt.settle()` between steps, time
moved only by the virtual clock) a poll on a group must hand out a ready
task of that group of the highest priority ready there, and, among the ready
tasks of that priority *and the same key*, the one that became ready first
(fairness may interleave keys, never priorities, never order within a key);
and return None only when the group has none — no matter what the other
groups hold, or whether anyone serves them.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cadenza
from cadenza.testing import VirtualClock
from tests.groups._helpers import START, one_task, runtime

GROUPS = ("g0", "g1", "g2", "g3")  # g3 is served by nobody until a step names it

Step = tuple[str, int, int]

steps = st.lists(
    st.one_of(
        # group, priority + 5 * key
        st.tuples(st.just("start"), st.integers(0, 3), st.integers(0, 14)),
        st.tuples(st.just("poll"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("complete"), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("fail"), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("advance"), st.integers(0, 3), st.just(0)),  # half-seconds
    ),
    max_size=40,
)


@dataclass
class Queued:
    run_id: str
    group: str
    priority: int
    ready_at: float
    key: str


@dataclass
class Held:
    task_id: str
    item: Queued


async def _check(plan: list[Step], retry_delay_s: int) -> None:
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task(
            {"name": "work", "retryCount": 1000, "retryDelaySeconds": retry_delay_s}
        )
        queued: list[Queued] = []
        held: list[Held] = []
        for action, a, b in plan:
            now = clock.now()
            if action == "start":
                group, priority, key = GROUPS[a], b % 5, f"tenant{b // 5}"
                run_id = await rt.start(
                    "one", priority=priority, correlation_id=key, task_to_group={"work": group}
                )
                queued.append(Queued(run_id, group, priority, now, key))
            elif action == "poll":
                await _poll(rt, GROUPS[a], now, queued, held)
            elif action in ("complete", "fail") and held:
                lease = held.pop(a % len(held))
                if action == "complete":
                    await rt.complete(lease.task_id, {})
                else:
                    await rt.fail(lease.task_id, "try again")
                    item = lease.item
                    queued.append(
                        Queued(
                            item.run_id, item.group, item.priority, now + retry_delay_s, item.key
                        )
                    )
            elif action == "advance":
                await clock.advance(a / 2)
            await rt.settle()
        for group in GROUPS:  # drain: every ready task comes out, in order
            while any(q.group == group and q.ready_at <= clock.now() for q in queued):
                await _poll(rt, group, clock.now(), queued, held)


async def _poll(
    rt: cadenza.Runtime, group: str, now: float, queued: list[Queued], held: list[Held]
) -> None:
    ready = [q for q in queued if q.group == group and q.ready_at <= now]
    task = await rt.poll("work", group=group, worker_id="w")
    if not ready:
        assert task is None, f"{group} handed out {task} with nothing ready"
        return
    assert task is not None, f"{group} has {len(ready)} ready tasks but handed out none"
    top = max(q.priority for q in ready)
    got = next(q for q in ready if q.run_id == task.run_id)
    assert got.priority == top, f"{group} handed out priority {got.priority} before {top}"
    earliest = min(q.ready_at for q in ready if q.priority == top and q.key == got.key)
    assert got.ready_at == earliest, (
        f"{group} handed out {got.key}'s task ready at {got.ready_at - START}"
        f" before its task of equal priority ready at {earliest - START}"
    )
    queued.remove(got)
    held.append(Held(task.id, got))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps, retry_delay_s=st.integers(0, 1))
def test_dispatch_within_a_group_follows_priority_then_ready_time_within_a_key(
    plan: list[Step], retry_delay_s: int
) -> None:
    """Whatever the interleaving: priority first, ready order within a key, only its own."""
    anyio.run(_check, plan, retry_delay_s)


async def test_a_group_nobody_serves_never_delays_another() -> None:
    """Thousands of tasks stuck in an unserved group; another group's task is handed out at once."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        for _ in range(200):
            await rt.start("one", priority=99, task_to_group={"work": "stuck"})
        flowing = await rt.start("one", priority=0, task_to_group={"work": "flowing"})
        task = await rt.poll("work", group="flowing")
        assert task is not None
        assert task.run_id == flowing
        assert await rt.poll("work", group="flowing") is None
