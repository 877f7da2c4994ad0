"""An idle schedule costs one timer entry and nothing in memory, before and after a restart."""

from __future__ import annotations

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import QUICK

COUNT = 300


async def test_idle_schedules_hold_one_timer_each_and_no_actor(
    db_path: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        for i in range(COUNT):
            await rt.schedule(f"s{i}", "quick", cron="0 3 * * *")
        await rt.settle()
        assert rt._engine._timer_state.pending() == COUNT
        assert rt._scheduler._pool is not None
        assert rt._scheduler._pool.active() == 0  # passivated: state is in the journal
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.settle()
        assert rt._scheduler.armed_at_open == COUNT
        assert rt._engine._timer_state.pending() == COUNT
        assert rt._scheduler._pool is not None
        assert rt._scheduler._pool.active() == 0  # armed from their rows, none loaded
        await clock.advance(86400)
        assert len(await rt.runs(name="quick", limit=1000)) == COUNT
        assert rt._engine._timer_state.pending() == COUNT  # each armed its next tick again
