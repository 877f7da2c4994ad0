"""Routing fallbacks, slow-dispatch events for stuck tasks, and retiring idle groups."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from cadenza.runtime import Environment
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.groups._helpers import START, one_task, runtime


@pytest.mark.parametrize(
    ("routes", "live", "expected"),
    [
        ("gpu,cpu,NO_DOMAIN", {"gpu", "cpu"}, "gpu"),
        ("gpu,cpu,NO_DOMAIN", {"cpu"}, "cpu"),
        ("gpu,cpu,NO_DOMAIN", set(), "default"),
        ("gpu, cpu", set(), "cpu"),  # none live: the last one named
        # getActiveDomain (WorkflowExecutorOps.java:1956) leaves NO_DOMAIN out of the search
        ("gpu,NO_DOMAIN,cpu", {"cpu"}, "cpu"),
        ("gpu,NO_DOMAIN,cpu", set(), "cpu"),
        ("NO_DOMAIN", {"gpu"}, "default"),
        ("solo", set(), "solo"),
        (" , ", set(), "default"),
    ],
)
def test_a_fallback_list_routes_to_the_first_group_someone_serves(
    routes: str, live: set[str], expected: str
) -> None:
    """Conductor's taskToDomain fallbacks: first live group, else the last (NO_DOMAIN: the
    default)."""
    env = Environment(live=frozenset(live))
    assert env.group_for("work", {"work": routes}) == expected


async def test_a_run_is_routed_to_the_group_with_a_live_worker_or_a_parked_poll() -> None:
    """gpu has nobody, cpu a local worker: cpu; once a poll waits on gpu, gpu."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        ran: list[str] = []

        async def work(_input: dict[str, Any]) -> dict[str, Any]:
            ran.append("cpu")
            return {}

        rt.worker("work", work, group="cpu")
        await rt.settle()
        routes = {"work": "gpu,cpu,NO_DOMAIN"}
        await rt.start("one", task_to_group=routes)
        await rt.settle()
        assert ran == ["cpu"]
        got: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def poll() -> None:
                got.append(await rt.poll("work", group="gpu", wait=30))

            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            await rt.settle()
            await rt.start("one", task_to_group=routes)
            await rt.settle()
        assert got[0] is not None
        assert ran == ["cpu"]


def test_a_group_polled_for_the_task_recently_counts_as_active() -> None:
    """getActiveDomain reads the task type's poll data per domain: a poll for this task
    within activeWorkerLastPollTimeout makes the group active; one for another task not."""
    env = Environment(polled={"work": frozenset({"cpu"}), "other": frozenset({"gpu"})})
    assert env.group_for("work", {"work": "gpu,cpu"}) == "cpu"
    assert env.group_for("work", {"work": "gpu,tpu"}) == "tpu"


async def test_an_empty_poll_within_ten_seconds_makes_its_group_active() -> None:
    """A worker that polled gpu and found nothing keeps gpu active for 10 s (Conductor's
    activeWorkerLastPollTimeout): a task is routed there, not to the live local worker's
    cpu; 10 s after the last poll, cpu again."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        rt.worker("work", _noop, group="cpu")
        routes = {"work": "gpu,cpu,NO_DOMAIN"}
        assert await rt.poll("work", group="gpu", wait=0) is None  # an empty poll
        first = await rt.start("one", task_to_group=routes)
        await rt.settle()
        assert [t.group for t in (await rt.get(first)).tasks] == ["gpu"]
        await clock.advance(10.001)
        second = await rt.start("one", task_to_group=routes)
        await rt.settle()
        assert [t.group for t in (await rt.get(second)).tasks] == ["cpu"]


async def _noop(_input: dict[str, Any]) -> dict[str, Any]:
    return {}


async def test_a_task_stuck_in_a_group_nobody_serves_is_reported_once_when_its_wait_passes() -> (
    None
):
    """dispatch.slow at exactly dispatch_warning_s, still queued; not again at hand-out."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock, dispatch_warning_s=5) as rt:
            await rt.register(one_task())
            run_id = await rt.start("one", task_to_group={"work": "nobody"})
            await clock.advance_to(START + 5 - 0.001)
            assert [e for e in logs if e["event"] == "dispatch.slow"] == []
            await clock.advance_to(START + 5)
            slow = [e for e in logs if e["event"] == "dispatch.slow"]
            assert len(slow) == 1
            assert slow[0]["group"] == "nobody"
            assert slow[0]["run_id"] == run_id
            assert slow[0]["still_queued"] is True
            assert slow[0]["live_workers"] is False
            await clock.advance(100)
            assert await rt.poll("work", group="nobody") is not None
    assert len([e for e in logs if e["event"] == "dispatch.slow"]) == 1


async def test_a_task_handed_out_late_is_reported_at_hand_out() -> None:
    """A task behind a busy worker: dispatch.slow when it finally starts, with its wait."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock, dispatch_warning_s=5) as rt:
            await rt.register(one_task())
            await rt.start("one")
            await rt.start("one")
            first = await rt.poll("work")
            assert first is not None
            await clock.advance_to(START + 3)
            second = await rt.poll("work")
            assert second is not None
            await clock.advance(10)
    assert [e for e in logs if e["event"] == "dispatch.slow"] == []


async def test_an_idle_empty_group_is_retired_and_recreated_on_next_use() -> None:
    """After 60 idle seconds the group goes; a later start recreates it and is served."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await rt.register(one_task())
            assert await rt.poll("work", group="temp") is None
            await clock.advance(59)
            assert "temp" in rt._engine._groups
            await clock.advance(1)
            assert "temp" not in rt._engine._groups
            run_id = await rt.start("one", task_to_group={"work": "temp"})
            task = await rt.poll("work", group="temp")
            assert task is not None
            assert task.run_id == run_id
    events = [e["event"] for e in logs if e.get("group") == "temp"]
    assert events == ["group.created", "group.retired", "group.created"]


async def test_a_group_waiting_for_a_delayed_retry_is_not_retired_and_loses_nothing() -> None:
    """A retry due in 120 s keeps its group alive past the idle time; it is then handed out."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "retryCount": 1, "retryDelaySeconds": 120})
        await rt.start("one", task_to_group={"work": "temp"})
        task = await rt.poll("work", group="temp")
        assert task is not None
        await rt.fail(task.id, "later")
        await clock.advance(100)
        assert "temp" in rt._engine._groups
        await clock.advance(20)
        retry = await rt.poll("work", group="temp")
        assert retry is not None
        assert retry.id != task.id


async def test_a_group_with_a_local_worker_is_never_retired() -> None:
    """A registered worker keeps its group, however long nothing arrives."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:

        async def work(_input: dict[str, Any]) -> dict[str, Any]:
            return {}

        rt.worker("work", work, group="kept")
        await rt.settle()
        await clock.advance(3600)
        assert "kept" in rt._engine._groups
