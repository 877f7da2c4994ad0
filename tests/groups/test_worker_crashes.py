"""A local worker that crashes in a loop pauses its task type in its group, not the runtime."""

from __future__ import annotations

from typing import Any

from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.groups._helpers import START, one_task, runtime


class Meltdown(BaseException):
    """Not an Exception: what the slot treats as a crash rather than a task failure."""


def _names(logs: list[dict[str, Any]], prefix: str) -> list[str]:
    return [e["event"] for e in logs if str(e["event"]).startswith(prefix)]


async def test_a_worker_crashing_within_its_restart_intensity_is_restarted() -> None:
    """Two crashes: the slot restarts each time, the task is retried and the run completes."""
    clock = VirtualClock(start=START)
    crashes = 0

    async def work(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal crashes
        if crashes < 2:
            crashes += 1
            raise Meltdown("segfault-ish")
        return {"ok": True}

    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await rt.register(one_task())
            await rt.register_task({"name": "work", "retryCount": 5, "retryDelaySeconds": 0})
            run_id = await rt.start("one")
            rt.worker("work", work)
            await rt.settle()
            run = await rt.get(run_id)
            assert run.status == "COMPLETED"
            assert [t.reason for t in run.tasks[:2]] == [
                "worker crashed: Meltdown: segfault-ish"
            ] * 2
    assert _names(logs, "group.worker_") == ["group.worker_restarted"] * 2


async def test_a_worker_crashing_in_a_loop_pauses_its_type_and_registering_it_resumes() -> None:
    """Past 3 crashes a minute: paused (tasks stay queued, others flow); rt.worker resumes it."""
    clock = VirtualClock(start=START)
    calls = 0

    async def crashing(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise Meltdown("again")

    async def fixed(_input: dict[str, Any]) -> dict[str, Any]:
        return {}

    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await rt.register(one_task())
            await rt.register_task({"name": "work", "retryCount": 10, "retryDelaySeconds": 0})
            runs = [await rt.start("one") for _ in range(3)]
            rt.worker("work", crashing, concurrency=2)
            await rt.settle()
            assert calls == 4
            assert await rt.poll("work") is None  # paused: pollers of the type get nothing
            other = await rt.start("one", task_to_group={"work": "elsewhere"})
            assert await rt.poll("work", group="elsewhere") is not None
            assert [(await rt.get(r)).status for r in runs] == ["RUNNING"] * 3
            await clock.advance(120)
            assert calls == 4  # no restart by time alone
            rt.worker("work", fixed, concurrency=2)
            await rt.settle()
            assert [(await rt.get(r)).status for r in runs] == ["COMPLETED"] * 3
            assert (await rt.get(other)).status == "RUNNING"
    assert _names(logs, "group.worker_") == [
        "group.worker_restarted",
        "group.worker_restarted",
        "group.worker_restarted",
        "group.worker_paused",
        "group.worker_resumed",
    ]
    paused = next(e for e in logs if e["event"] == "group.worker_paused")
    assert paused["task_type"] == "work"
    assert paused["group"] == "default"
    assert "rt.worker" in paused["remedy"]


async def test_a_worker_raising_an_exception_is_a_task_failure_not_a_crash() -> None:
    """Ten failing tasks in a row never pause the worker: failures are verdicts."""
    clock = VirtualClock(start=START)
    calls = 0

    async def failing(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise RuntimeError("bad input")

    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await rt.register(one_task())
            await rt.register_task({"name": "work", "retryCount": 0})
            for _ in range(10):
                await rt.start("one")
            rt.worker("work", failing)
            await rt.settle()
            assert calls == 10
    assert _names(logs, "group.worker_") == []
