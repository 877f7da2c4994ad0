"""Ticks missed while the process was down, and cron across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import QUICK, results, scheduled_runs, scheduled_times

START = 1_800_000_000.0


async def _down_for_three_ticks(db_path: str, clock: VirtualClock, window_s: float) -> None:
    """A minutely schedule ticks once; the process is down while three more come due."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("m", "quick", every_s=60, catchup_window_s=window_s)
        await clock.advance(61)
    await clock.advance(180)  # down: ticks at 120, 180 and 240 come due; now START + 241


async def test_ticks_missed_within_the_window_start_on_recovery_in_order(
    db_path: str, clock: VirtualClock
) -> None:
    await _down_for_three_ticks(db_path, clock, window_s=600)
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.settle()
        runs = await scheduled_runs(rt, "quick")
        assert scheduled_times(runs) == [START + 60, START + 120, START + 180, START + 240]
        assert all(run.input["_executedTime"] / 1000 == START + 241 for run in runs[1:])
        [schedule] = await rt.schedules()
        assert schedule.missed == 0
        assert schedule.next_at == START + 300


async def test_ticks_older_than_the_window_are_counted_not_started(
    db_path: str, clock: VirtualClock
) -> None:
    """Window 50 s at START + 241: the ticks at 120 and 180 are missed; 240 starts."""
    await _down_for_three_ticks(db_path, clock, window_s=50)
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.settle()
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 60, START + 240]
        [schedule] = await rt.schedules()
        assert schedule.missed == 2
        await clock.advance(60)
        assert scheduled_times(await scheduled_runs(rt, "quick"))[-1] == START + 300


async def test_a_zero_window_starts_only_a_tick_due_right_now(
    db_path: str, clock: VirtualClock
) -> None:
    await _down_for_three_ticks(db_path, clock, window_s=0)
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.settle()
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 60]
        [schedule] = await rt.schedules()
        assert schedule.missed == 3


def _utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp()


async def test_a_cron_across_spring_forward_in_new_york(db_path: str) -> None:
    """02:30 does not exist on 2027-03-14 in New York: croniter fires at 03:00 EDT instead."""
    clock = VirtualClock(start=_utc(2027, 3, 12, 12))
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("nightly", "quick", cron="0 30 2 * * *", zone="America/New_York")
        await clock.advance(3 * 86400)
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [
            _utc(2027, 3, 13, 7, 30),  # 02:30 EST
            _utc(2027, 3, 14, 7, 0),  # 03:00 EDT: the first instant after the gap
            _utc(2027, 3, 15, 6, 30),  # 02:30 EDT
        ]


async def test_a_cron_across_fall_back_in_new_york(db_path: str) -> None:
    """01:30 happens twice on 2027-11-07 in New York: croniter fires at both instants."""
    clock = VirtualClock(start=_utc(2027, 11, 5, 12))
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("nightly", "quick", cron="30 1 * * *", zone="America/New_York")
        await clock.advance(3 * 86400)
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [
            _utc(2027, 11, 6, 5, 30),  # 01:30 EDT
            _utc(2027, 11, 7, 5, 30),  # 01:30 EDT
            _utc(2027, 11, 7, 6, 30),  # 01:30 EST, an hour later
            _utc(2027, 11, 8, 6, 30),  # 01:30 EST
        ]
        [schedule] = await rt.schedules()
        assert len({at for at, _ in results(schedule)}) == 4  # four distinct ticks, four keys
