"""The schedules' metrics: ticks by result, and how late each tick's run started."""

from __future__ import annotations

import random
from typing import Any

from prometheus_client import generate_latest

import cadenza
from cadenza.engine.schedules._actor import RETRY_S
from cadenza.persistence import JournalFaults
from cadenza.testing import VirtualClock
from tests.schedules._helpers import HELD, QUICK, scheduled_runs


async def test_ticks_are_counted_by_result_and_lateness_observed(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await rt.register(HELD)
    await rt.schedule("s", "held", every_s=10, overlap="skip")
    await clock.advance(35)  # 10 starts, 20 and 30 are skipped
    assert rt.metrics is not None
    text = generate_latest(rt.metrics).decode()
    assert 'cadenza_schedule_ticks_total{result="started",schedule="s"} 1.0' in text
    assert 'cadenza_schedule_ticks_total{result="skipped",schedule="s"} 2.0' in text
    assert 'cadenza_schedule_tick_lateness_seconds_count{schedule="s"} 1.0' in text
    assert 'cadenza_schedule_tick_lateness_seconds_bucket{le="0.001",schedule="s"} 1.0' in text


async def test_a_tick_retried_after_a_failed_write_is_counted_once(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """The tick's record is refused once: the tick is tried again, its run found by key."""
    await rt.register(QUICK)
    await rt.schedule("s", "quick", every_s=10)
    refused: list[str] = []

    def refuse_once(append: Any) -> bool:
        if append.stream_id == "schedule:s" and not refused:
            refused.append(append.stream_id)
            return True
        return False

    rt._engine.journal.faults = JournalFaults(random.Random(1), refuse_append=refuse_once)  # type: ignore[attr-defined]
    await clock.advance(10)  # the tick starts its run; its record fails
    await clock.advance(RETRY_S)  # tried again: the run is found, the record lands
    assert refused
    assert len(await scheduled_runs(rt, "quick")) == 1
    [schedule] = await rt.schedules()
    assert schedule.started == 1
    assert rt.metrics is not None
    text = generate_latest(rt.metrics).decode()
    assert 'cadenza_schedule_ticks_total{result="started",schedule="s"} 1.0' in text
    assert 'cadenza_schedule_tick_lateness_seconds_count{schedule="s"} 1.0' in text
