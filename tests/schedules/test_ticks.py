"""A schedule starts one run per tick, on time and never early, and is journaled."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest

import cadenza
from cadenza.http.ui._reads import runs_page
from cadenza.persistence import JournalFaults, JournalWriteError, StreamQuery
from cadenza.testing import VirtualClock
from tests.schedules._helpers import QUICK, scheduled_runs, scheduled_times

START = 1_800_000_000.0  # the `clock` fixture's start (2027-01-15T08:00:00Z)


async def test_an_interval_schedule_starts_one_run_per_tick(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """every_s=60: a run at each minute after creation, with its tick time as input."""
    await rt.register(QUICK)
    await rt.schedule("minutely", "quick", every_s=60, input={"n": 1})
    await clock.advance(59.9)
    assert await scheduled_runs(rt, "quick") == []  # never early
    await clock.advance(180.1)
    runs = await scheduled_runs(rt, "quick")
    assert scheduled_times(runs) == [START + 60, START + 120, START + 180, START + 240]
    assert all(run.input["n"] == 1 for run in runs)
    assert all(run.status == "COMPLETED" for run in runs)
    [schedule] = await rt.schedules()
    assert schedule.name == "minutely"
    assert schedule.workflow == "quick"
    assert schedule.every_s == 60
    assert schedule.cron is None
    assert schedule.zone == "UTC"
    assert schedule.next_at == START + 300
    assert schedule.last_run_id == runs[-1].id
    assert not schedule.paused


async def test_a_cron_with_seconds_first_ticks_at_those_seconds(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Conductor's 6-field form: "*/20 * * * * *" ticks at :00, :20, :40 of every minute."""
    await rt.register(QUICK)
    await rt.schedule("thrice", "quick", cron="*/20 * * * * *")
    await clock.advance(61)
    assert scheduled_times(await scheduled_runs(rt, "quick")) == [
        START + 20, START + 40, START + 60,
    ]  # fmt: skip


async def test_a_five_field_cron_ticks_each_minute(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await rt.register(QUICK)
    await rt.schedule("m", "quick", cron="* * * * *")
    await clock.advance(150)
    assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 60, START + 120]


async def test_each_run_started_at_or_after_its_tick(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Jitter delays a tick by a fixed amount below jitter_s, never before the tick."""
    await rt.register(QUICK)
    await rt.schedule("j", "quick", every_s=10, jitter_s=5)
    await clock.advance(100)
    runs = await scheduled_runs(rt, "quick")
    assert len(runs) >= 9
    for run in runs:
        tick = run.input["_scheduledTime"] / 1000
        executed = run.input["_executedTime"] / 1000
        assert tick <= executed < tick + 5


async def test_start_and_end_bound_the_ticks(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    await rt.register(QUICK)
    await rt.schedule("bounded", "quick", every_s=10, start_at=START + 30, end_at=START + 60)
    await clock.advance(200)
    assert scheduled_times(await scheduled_runs(rt, "quick")) == [
        START + 30, START + 40, START + 50, START + 60,
    ]  # fmt: skip
    [schedule] = await rt.schedules()
    assert schedule.next_at is None


async def test_a_schedule_survives_a_restart(db_path: str, clock: VirtualClock) -> None:
    """The schedule is journaled: a new runtime on the file keeps ticking it."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(QUICK)
        await rt.schedule("kept", "quick", every_s=60)
        await clock.advance(61)
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        assert [s.name for s in await rt.schedules()] == ["kept"]
        await clock.advance(60)
        assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 60, START + 120]


async def test_pause_resume_and_unschedule(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """A paused schedule starts nothing and does not catch up on resume; a deleted one is gone."""
    await rt.register(QUICK)
    await rt.schedule("p", "quick", every_s=10)
    await clock.advance(10)
    await rt.pause_schedule("p")
    [schedule] = await rt.schedules()
    assert schedule.paused
    assert schedule.next_at is None
    await clock.advance(100)
    assert len(await scheduled_runs(rt, "quick")) == 1
    await rt.resume_schedule("p")
    await clock.advance(10)
    assert scheduled_times(await scheduled_runs(rt, "quick")) == [START + 10, START + 120]
    await rt.unschedule("p")
    await clock.advance(100)
    assert len(await scheduled_runs(rt, "quick")) == 2
    assert await rt.schedules() == []
    with pytest.raises(cadenza.NotFound):
        await rt.pause_schedule("p")


async def test_trigger_and_backfill(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """trigger starts one run now; backfill starts the ticks of a past range once each."""
    await rt.register(QUICK)
    await rt.schedule("b", "quick", cron="0 * * * *")  # hourly
    run_id = await rt.trigger("b")
    assert run_id is not None
    assert (await rt.wait(run_id)).status == "COMPLETED"
    past = datetime(2027, 1, 15, 3, 0, tzinfo=UTC)  # five hours before START
    ids = await rt.backfill("b", past, START - 1, overlap="allow_all")
    assert len(ids) == 5
    again = await rt.backfill("b", past, START - 1, overlap="allow_all")
    assert again == ids  # the same ticks: the same runs
    times = sorted(scheduled_times(await scheduled_runs(rt, "quick")))
    assert times[:5] == [past.timestamp() + 3600 * k for k in range(5)]
    assert len(times) == 6


async def test_bad_arguments_are_named(rt: cadenza.Runtime) -> None:
    await rt.register(QUICK)
    cases = [
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * * *", "every_s": 5}, "cron"),
        ({}, "cron"),
        ({"every_s": -1}, "every_s"),
        ({"every_s": math.nan}, "every_s"),
        ({"every_s": 5, "zone": "Mars/Olympus"}, "zone"),
        ({"every_s": 5, "overlap": "queue"}, "overlap"),
        ({"every_s": 5, "catchup_window_s": -1}, "catchup_window_s"),
        ({"every_s": 5, "jitter_s": math.inf}, "jitter_s"),
        ({"every_s": 5, "priority": 150}, "priority"),
        ({"every_s": 5, "paused": "yes"}, "paused"),
        ({"every_s": 5, "start_at": "tomorrow"}, "start_at"),
        ({"every_s": 5, "start_at": START + 10, "end_at": START}, "end_at"),
        ({"every_s": 5, "input": [1]}, "input"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(cadenza.InvalidArgument) as caught:
            await rt.schedule("bad", "quick", **kwargs)  # type: ignore[arg-type]
        assert caught.value.argument == argument, kwargs
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await rt.schedule("", "quick", every_s=5)
    assert caught.value.argument == "name"
    with pytest.raises(cadenza.NotFound):
        await rt.schedule("bad", "nowhere", every_s=5)
    assert await rt.schedules() == []


async def test_listings_of_runs_leave_the_schedules_out(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A schedule is journaled beside the runs, but no listing of runs shows it."""
    await rt.register(QUICK)
    await rt.schedule("a", "quick", every_s=60)
    await rt.schedule("b", "quick", every_s=60)
    await clock.advance(61)
    runs = await rt.runs()
    assert len(runs) == 2
    assert {run.name for run in runs} == {"quick"}
    assert len(await rt.runs(limit=1)) == 1
    page = await runs_page(rt, StreamQuery(), page=1, size=50)
    assert len(page.rows) == 2
    assert page.total == 2
    async with cadenza.inspect(rt.path) as journal:
        assert len(await journal.runs()) == 2


async def test_a_tick_whose_record_fails_to_commit_is_tried_again(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """The schedule's append is refused for a while: the tick is retried, its run started once."""
    await rt.register(QUICK)
    await rt.schedule("r", "quick", every_s=60)
    refusing = True

    def refuse(append: Any) -> bool:
        return refusing and append.stream_id == "schedule:r"

    rt._engine.journal.faults = JournalFaults(random.Random(1), refuse_append=refuse)  # type: ignore[attr-defined]
    await clock.advance(63.5)  # the tick at 60 starts its run; its record fails, 3 retries
    assert len(await scheduled_runs(rt, "quick")) == 1
    [schedule] = await rt.schedules()
    assert schedule.next_at == START + 60  # not moved on: nothing of it was written
    refusing = False
    await clock.advance(1)
    runs = await scheduled_runs(rt, "quick")
    assert scheduled_times(runs) == [START + 60]  # the retry found the run by its key
    [schedule] = await rt.schedules()
    assert schedule.next_at == START + 120
    assert schedule.last_run_id == runs[0].id


async def test_a_schedules_stream_is_no_run(rt: cadenza.Runtime) -> None:
    """Asking for a schedule's journal stream as a run is NotFound, not a damaged run."""
    await rt.register(QUICK)
    await rt.schedule("s", "quick", every_s=60)
    with pytest.raises(cadenza.NotFound):
        await rt.get("schedule:s")
    with pytest.raises(cadenza.NotFound):
        await rt.terminate("schedule:s")
    assert rt.damaged == []
    async with cadenza.inspect(rt.path) as journal:
        with pytest.raises(cadenza.NotFound):
            await journal.get("schedule:s")


async def test_a_schedule_call_whose_record_fails_raises_and_changes_nothing(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await rt.register(QUICK)
    await rt.schedule("w", "quick", every_s=60)

    def refuse(append: Any) -> bool:
        return bool(append.stream_id == "schedule:w")

    rt._engine.journal.faults = JournalFaults(random.Random(1), refuse_append=refuse)  # type: ignore[attr-defined]
    with pytest.raises(JournalWriteError):
        await rt.pause_schedule("w")
    rt._engine.journal.faults = None  # type: ignore[attr-defined]
    [schedule] = await rt.schedules()
    assert not schedule.paused
    await clock.advance(60)
    assert len(await scheduled_runs(rt, "quick")) == 1
