"""The dashboard's schedules page: next ticks, last runs, missed and skipped ticks."""

from __future__ import annotations

import httpx

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import HELD


async def test_the_schedules_page_shows_next_ticks_last_runs_and_counts(
    ui: httpx.AsyncClient, flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    empty = await ui.get("/ui/schedules")
    assert empty.status_code == 200
    assert "No schedule" in empty.text
    await flows.register(HELD)
    await flows.schedule("every-10", "held", every_s=10)
    await flows.schedule("nightly", "held", cron="0 30 2 * * *", zone="Europe/Paris", paused=True)
    await clock.advance(25)  # 10 started, 20 skipped (the first still runs)
    page = await ui.get("/ui/schedules")
    assert page.status_code == 200
    text = page.text
    assert 'data-schedule="every-10"' in text
    assert 'data-schedule="nightly"' in text
    assert "<code>0 30 2 * * *</code>" in text
    assert "Europe/Paris" in text
    assert "paused" in text
    [schedule] = [s for s in await flows.schedules() if s.name == "every-10"]
    assert schedule.last_run_id is not None
    assert f"/runs/{schedule.last_run_id}" in text
    assert "skipped" in text
    assert 'aria-current="page">Schedules' in text
