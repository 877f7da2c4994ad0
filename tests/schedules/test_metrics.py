"""The schedules' metrics: ticks by result, and how late each tick's run started."""

from __future__ import annotations

from prometheus_client import generate_latest

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import HELD


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
