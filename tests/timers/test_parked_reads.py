"""Reading a parked run arms nothing: a loaded run knows the wake-up its row promised.

A run only waiting on a timer passivates; every read loads it afresh. The
wake-up its row promises was armed by whoever wrote the row (or by recovery,
from the row), so a read must not arm it again: the timer service would
otherwise hold one more entry per read.
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock
from tests.timers.test_wait_and_timeouts import waiting

DAY = 86_400.0


def pending_timers(rt: cadenza.Runtime) -> int:
    """Entries the timer service holds (armed WAITs, retry delays, delayed enqueues)."""
    return rt._engine._timer_state.pending()


def two_waits(**extra: Any) -> dict[str, Any]:
    """WAIT `w1` (ten minutes), then WAIT `w2` (an hour), then a SIMPLE task."""
    return {
        "name": "two_waits",
        "tasks": [
            {
                "name": "first",
                "taskReferenceName": "w1",
                "type": "WAIT",
                "inputParameters": {"duration": "10m"},
            },
            {
                "name": "second",
                "taskReferenceName": "w2",
                "type": "WAIT",
                "inputParameters": {"duration": "1h"},
            },
            {"name": "after", "taskReferenceName": "after", "inputParameters": {}},
        ],
        **extra,
    }


async def test_reading_a_parked_run_a_hundred_times_arms_one_timer(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """100 `get`s and 100 `runs()` of a run on a one-day WAIT leave one timer; it fires on time."""
    await rt.register(waiting(wait_input={"duration": "1d"}))
    run_id = await rt.start("waiting")
    await rt.settle()
    assert rt._engine._runs.active() == 0  # parked: each read loads it afresh
    assert pending_timers(rt) == 1
    for _ in range(100):
        assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    await rt.settle()
    assert pending_timers(rt) == 1
    for _ in range(100):
        assert [run.id for run in await rt.runs(name="waiting")] == [run_id]
    await rt.settle()
    assert pending_timers(rt) == 1
    await clock.advance(DAY - 0.001)
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    await clock.advance(0.001)
    assert [t.status for t in (await rt.get(run_id)).tasks] == ["COMPLETED", "SCHEDULED"]
    assert pending_timers(rt) == 0


async def test_after_a_restart_reads_arm_nothing_and_the_wait_fires_on_time(
    db_path: str, clock: VirtualClock
) -> None:
    """Recovery arms the parked row's wake-up; reads after it add none; it fires at its deadline."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(waiting(wait_input={"duration": "1d"}))
        run_id = await rt.start("waiting")
        for _ in range(10):
            await rt.get(run_id)
    await clock.advance(3600)
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.settle()  # the audit loads the run once, and agrees
        assert rt._engine.timers_repaired == 0
        assert pending_timers(rt) == 1
        for _ in range(100):
            assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
            await rt.runs(name="waiting")
        await rt.settle()
        assert pending_timers(rt) == 1
        await clock.advance(DAY - 3600 - 0.001)
        assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
        await clock.advance(0.001)
        assert (await rt.get(run_id)).tasks[0].status == "COMPLETED"


async def test_a_later_wait_after_an_early_signal_is_armed_by_the_batch_that_parks_it(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """The row promises the new, later deadline: the batch writing it arms it, reads do not."""
    await rt.register(two_waits())
    run_id = await rt.start("two_waits")
    await clock.advance(60)
    await rt.signal(run_id, "w1", {})  # w2 is due at 60 + 3600, after w1's old timer (600)
    await rt.settle()
    for _ in range(50):
        await rt.get(run_id)
    await rt.settle()
    assert pending_timers(rt) == 2  # w1's stale timer, and w2's
    await clock.advance(600)  # the stale one fires: it changes nothing and arms nothing
    assert pending_timers(rt) == 1
    await clock.advance(3600 - 600 - 0.001)
    assert (await rt.get(run_id)).tasks[1].status == "IN_PROGRESS"
    await clock.advance(0.001)
    assert [t.status for t in (await rt.get(run_id)).tasks] == [
        "COMPLETED",
        "COMPLETED",
        "SCHEDULED",
    ]


async def test_a_row_whose_alert_only_deadline_passed_still_arms_what_comes_next(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """An alert-only workflow timeout passes on a parked run (its row keeps that deadline):

    reads arm nothing more, and a deadline a later batch adds (a poll timeout) still fires.
    """
    await rt.register(waiting(wait_input={"duration": "1d"}, timeoutSeconds=60))
    await rt.register_task({"name": "after", "pollTimeoutSeconds": 30, "retryCount": 0})
    run_id = await rt.start("waiting")
    await clock.advance(60)  # alert only: reported, nothing changes, the row still says 60
    for _ in range(50):
        await rt.get(run_id)
    await rt.settle()
    assert pending_timers(rt) == 1  # the WAIT's
    await clock.advance(60)
    await rt.signal(run_id, "w", {})  # `after` is scheduled: nobody polls it within 30 s
    await clock.advance(29.999)
    assert (await rt.get(run_id)).tasks[1].status == "SCHEDULED"
    await clock.advance(0.001)
    run = await rt.get(run_id)
    assert run.tasks[1].status == "TIMED_OUT"
