"""Limits: concurrentExecLimit, rate limits exact on the clock, changes without a restart."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.groups._helpers import START, one_task, runtime


async def test_a_rate_limit_hands_out_the_next_task_exactly_when_the_window_allows() -> None:
    """2 per 10 s: two at once, none at +9.999 s, two more at +10 s, the last at +20 s."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task(
            {"name": "work", "rateLimitPerFrequency": 2, "rateLimitFrequencyInSeconds": 10}
        )
        started: list[float] = []

        async def work(_input: dict[str, Any]) -> dict[str, Any]:
            started.append(clock.now() - START)
            return {}

        rt.worker("work", work, concurrency=10)
        for _ in range(5):
            await rt.start("one")
        await rt.settle()
        assert started == [0, 0]
        await clock.advance_to(START + 10 - 0.001)
        assert len(started) == 2
        await clock.advance_to(START + 10)
        assert started == [0, 0, 10, 10]
        await clock.advance_to(START + 30)
        assert started == [0, 0, 10, 10, 20]


async def test_concurrent_exec_limit_counts_local_and_external_workers_together() -> None:
    """Limit 1: while a poller holds a task the local worker gets none; then it takes the rest."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "concurrentExecLimit": 1})
        for _ in range(3):
            await rt.start("one")
        held = await rt.poll("work")
        assert held is not None
        ran: list[str] = []

        async def work(_input: dict[str, Any]) -> dict[str, Any]:
            ran.append("local")
            return {}

        rt.worker("work", work, concurrency=4)
        await rt.settle()
        assert ran == []
        assert await rt.poll("work") is None
        await rt.complete(held.id, {})
        await rt.settle()
        assert ran == ["local", "local"]


async def test_concurrent_exec_limit_spans_groups() -> None:
    """The limit is per task type: a task held in one group counts against another group."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "concurrentExecLimit": 1})
        await rt.start("one", task_to_group={"work": "a"})
        await rt.start("one", task_to_group={"work": "b"})
        held = await rt.poll("work", group="a")
        assert held is not None
        assert await rt.poll("work", group="b") is None
        await rt.fail(held.id, "no", terminal=True)
        assert await rt.poll("work", group="b") is not None


async def test_raising_a_limit_at_run_time_takes_effect_without_a_restart() -> None:
    """A parked poller held back by concurrentExecLimit gets a task once the limit is raised."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "concurrentExecLimit": 1})
        await rt.start("one")
        await rt.start("one")
        assert await rt.poll("work") is not None
        assert await rt.poll("work") is None
        await rt.register_task({"name": "work", "concurrentExecLimit": 2})
        assert await rt.poll("work") is not None


async def test_lowering_a_rate_limit_at_run_time_holds_back_the_next_task() -> None:
    """From unlimited to 1 per 60 s: the next task waits for the window, to the millisecond."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        await rt.register(one_task())
        await rt.register_task({"name": "work", "rateLimitPerFrequency": 5})
        for _ in range(3):
            await rt.start("one")
        assert await rt.poll("work") is not None
        await rt.register_task(
            {"name": "work", "rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 60}
        )
        assert await rt.poll("work") is None
        await clock.advance_to(START + 60 - 0.001)
        assert await rt.poll("work") is None
        await clock.advance_to(START + 60)
        assert await rt.poll("work") is not None


@pytest.mark.parametrize(
    ("field", "taskdef"),
    [
        ("concurrentExecLimit", {"concurrentExecLimit": -1}),
        ("rateLimitPerFrequency", {"rateLimitPerFrequency": -2}),
        ("rateLimitPerFrequency", {"rateLimitPerFrequency": 1.5}),
        (
            "rateLimitFrequencyInSeconds",
            {"rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 0},
        ),
        ("responseTimeoutSeconds", {"responseTimeoutSeconds": 0}),
    ],
)
async def test_a_limit_that_makes_no_sense_is_a_definition_error_naming_the_field(
    field: str, taskdef: dict[str, Any]
) -> None:
    """Negative limits, a zero window or a zero lease are refused, naming the field."""
    clock = VirtualClock(start=START)
    async with runtime(clock) as rt:
        with pytest.raises(cadenza.DefinitionError, match=field):
            await rt.register_task({"name": "work", **taskdef})
