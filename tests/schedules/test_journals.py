"""Schedules on every journal: the in-memory one and PostgreSQL, as on SQLite."""

from __future__ import annotations

import cadenza
from cadenza.persistence import MemoryJournal
from cadenza.testing import VirtualClock
from tests.schedules._helpers import QUICK, scheduled_runs, scheduled_times

START = 1_800_000_000.0


async def test_a_schedule_ticks_and_survives_a_reopen_on_postgresql(
    pg_url: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(pg_url, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("m", "quick", every_s=60, overlap="allow_all")
        await clock.advance(61)
        assert [s.name for s in await rt.schedules()] == ["m"]
        assert len(await rt.runs()) == 1  # the schedule's own row is no run
    async with cadenza.Runtime(pg_url, clock=clock, seed=2) as rt:
        await clock.advance(60)
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 60, START + 120]
        await rt.unschedule("m")
        assert await rt.schedules() == []


async def test_a_schedule_ticks_on_the_memory_journal(clock: VirtualClock) -> None:
    journal = MemoryJournal(clock=clock.now)
    async with cadenza.Runtime(journal=journal, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("m", "quick", cron="*/30 * * * * *")
        await clock.advance(61)
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 30, START + 60]
    async with cadenza.Runtime(journal=journal, clock=clock, seed=2) as rt:
        await clock.advance(30)
        assert len(await scheduled_runs(rt, "quick")) == 3
