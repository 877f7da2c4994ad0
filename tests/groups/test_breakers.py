"""Circuit breakers per task type in a group: every transition, on the virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.groups._helpers import START, one_task, runtime

BREAKER = {
    "failureRateThreshold": 50,
    "minimumCalls": 4,
    "windowSize": 4,
    "openSeconds": 10,
    "halfOpenProbes": 2,
}


def _events(logs: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in logs if str(e["event"]).startswith("breaker.")]


async def _setup(rt: cadenza.Runtime, runs: int, **breaker: Any) -> None:
    await rt.register(one_task())
    await rt.register_task(
        {"name": "work", "retryCount": 0, "circuitBreaker": {**BREAKER, **breaker}}
    )
    for _ in range(runs):
        await rt.start("one")


async def test_failures_over_the_threshold_open_the_breaker_and_tasks_stay_queued() -> None:
    """4 failures in 4 calls open it: nothing more is handed out, the rest stay SCHEDULED."""
    clock = VirtualClock(start=START)
    calls: list[float] = []

    async def work(_input: dict[str, Any]) -> dict[str, Any]:
        calls.append(clock.now())
        raise RuntimeError("down")

    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await _setup(rt, 10)
            rt.worker("work", work)
            await rt.settle()
            assert len(calls) == 4
            assert await rt.poll("work") is None  # pollers get nothing either
            runs = await rt.runs(limit=20)
            running = [r for r in runs if r.status == "RUNNING"]
            assert len(running) == 6
            assert all(r.tasks[0].status == "SCHEDULED" for r in running)
    assert _events(logs) == ["breaker.opened"]
    opened = next(e for e in logs if e["event"] == "breaker.opened")
    assert opened["group"] == "default"
    assert opened["task_type"] == "work"


async def test_the_minimum_number_of_calls_holds_a_young_breaker_closed() -> None:
    """3 failures out of 3 calls with minimumCalls 4 do not open it."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await _setup(rt, 3)
            for _ in range(3):
                task = await rt.poll("work")
                assert task is not None
                await rt.fail(task.id, "down")
            await rt.start("one")
            assert await rt.poll("work") is not None
    assert _events(logs) == []


async def test_open_turns_half_open_after_the_cool_down_and_lets_only_the_probes_through() -> None:
    """Not before openSeconds; then exactly halfOpenProbes tasks go out, the next waits."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await _setup(rt, 8)
            for _ in range(4):
                task = await rt.poll("work")
                assert task is not None
                await rt.fail(task.id, "down")
            await clock.advance_to(START + 10 - 0.001)
            assert await rt.poll("work") is None
            await clock.advance_to(START + 10)
            probes = [await rt.poll("work"), await rt.poll("work")]
            assert all(p is not None for p in probes)
            assert await rt.poll("work") is None
    assert _events(logs) == ["breaker.opened", "breaker.half_open"]


async def test_a_failed_probe_reopens_the_breaker_for_another_cool_down() -> None:
    """One probe fails: open again from that moment, for openSeconds."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await _setup(rt, 8)
            for _ in range(4):
                task = await rt.poll("work")
                assert task is not None
                await rt.fail(task.id, "down")
            await clock.advance_to(START + 10)
            probe = await rt.poll("work")
            assert probe is not None
            await clock.advance_to(START + 12)
            await rt.fail(probe.id, "still down")
            assert await rt.poll("work") is None
            await clock.advance_to(START + 22 - 0.001)
            assert await rt.poll("work") is None
            await clock.advance_to(START + 22)
            assert await rt.poll("work") is not None
    assert _events(logs) == [
        "breaker.opened",
        "breaker.half_open",
        "breaker.opened",
        "breaker.half_open",
    ]


async def test_successful_probes_close_the_breaker_and_the_queue_drains() -> None:
    """Both probes complete: closed, and a local worker then runs every queued task."""
    clock = VirtualClock(start=START)
    healthy = False
    calls = 0

    async def work(_input: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if not healthy:
            raise RuntimeError("down")
        return {}

    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await _setup(rt, 10)
            rt.worker("work", work)
            await rt.settle()
            assert calls == 4
            healthy = True
            await clock.advance_to(START + 10)
            await rt.settle()
            assert calls == 10
    assert _events(logs) == ["breaker.opened", "breaker.half_open", "breaker.closed"]


async def test_a_lease_that_expires_counts_as_a_failure() -> None:
    """A probe-free breaker (1 call, 100%) opens when a poller's lease times out."""
    clock = VirtualClock(start=START)
    with capture_logs() as logs:
        async with runtime(clock) as rt:
            await rt.register(one_task())
            await rt.register_task(
                {
                    "name": "work",
                    "retryCount": 3,
                    "retryDelaySeconds": 0,
                    "responseTimeoutSeconds": 5,
                    "circuitBreaker": {
                        "failureRateThreshold": 100,
                        "minimumCalls": 1,
                        "windowSize": 1,
                        "openSeconds": 30,
                    },
                }
            )
            await rt.start("one")
            assert await rt.poll("work") is not None
            await clock.advance_to(START + 5)
            assert await rt.poll("work") is None  # the retry is queued, the breaker open
    assert _events(logs) == ["breaker.opened"]


async def test_removing_the_breaker_at_run_time_releases_the_queue_at_once() -> None:
    """Registering the TaskDef without `circuitBreaker` closes the way without a restart."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await _setup(rt, 6)
        for _ in range(4):
            task = await rt.poll("work")
            assert task is not None
            await rt.fail(task.id, "down")
        assert await rt.poll("work") is None
        await rt.register_task({"name": "work", "retryCount": 0})
        assert await rt.poll("work") is not None


async def test_a_breaker_in_one_group_never_holds_back_another_group() -> None:
    """Group a's breaker is open; the same task type still flows in group b."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "retryCount": 0, "circuitBreaker": BREAKER})
        for _ in range(5):
            await rt.start("one", task_to_group={"work": "a"})
        await rt.start("one", task_to_group={"work": "b"})
        for _ in range(4):
            task = await rt.poll("work", group="a")
            assert task is not None
            await rt.fail(task.id, "down")
        assert await rt.poll("work", group="a") is None
        assert await rt.poll("work", group="b") is not None


@pytest.mark.parametrize(
    ("field", "breaker"),
    [
        ("circuitBreaker", "on"),
        ("failureRateThreshold", {"failureRateThreshold": 0}),
        ("failureRateThreshold", {"failureRateThreshold": 101}),
        ("minimumCalls", {"minimumCalls": 0}),
        ("minimumCalls", {"minimumCalls": 5, "windowSize": 4}),
        ("windowSize", {"windowSize": 0}),
        ("windowSize", {"windowSize": 2.5}),
        ("openSeconds", {"openSeconds": 0}),
        ("openSeconds", {"openSeconds": -1}),
        ("halfOpenProbes", {"halfOpenProbes": 0}),
        ("halfOpenProbe", {"halfOpenProbe": 1}),
    ],
)
async def test_a_breaker_setting_that_makes_no_sense_is_a_definition_error_naming_it(
    field: str, breaker: Any
) -> None:
    """A zero window, a rate over 100 %, an unknown key: refused, naming the field."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        with pytest.raises(cadenza.DefinitionError, match=field):
            await rt.register_task({"name": "work", "circuitBreaker": breaker})
