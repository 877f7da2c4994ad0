"""Each overlap policy, as Temporal defines it, while the previous run is still running."""

from __future__ import annotations

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import HELD, results, scheduled_runs, scheduled_times

START = 1_800_000_000.0


async def _held_schedule(rt: cadenza.Runtime, clock: VirtualClock, overlap: str) -> None:
    """A schedule every 10 s of a run that waits for a signal; the clock at START + 25."""
    await rt.register(HELD)
    await rt.schedule("o", "held", every_s=10, overlap=overlap)
    await clock.advance(25)


async def _statuses(rt: cadenza.Runtime) -> list[tuple[float, str]]:
    runs = await scheduled_runs(rt, "held")
    return list(zip(scheduled_times(runs), [str(r.status) for r in runs], strict=True))


async def test_skip_starts_nothing_while_the_last_run_runs(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await _held_schedule(rt, clock, "skip")
    assert await _statuses(rt) == [(START + 10, "RUNNING")]
    [first] = await scheduled_runs(rt, "held")
    await rt.signal(first.id, "hold")
    await clock.advance(10)  # START + 35: the tick at 30 starts
    assert await _statuses(rt) == [(START + 10, "COMPLETED"), (START + 30, "RUNNING")]
    [schedule] = await rt.schedules()
    assert schedule.skipped == 1
    assert results(schedule) == [
        (START + 10, "started"), (START + 20, "skipped"), (START + 30, "started"),
    ]  # fmt: skip


async def test_buffer_one_starts_one_held_tick_when_the_run_ends(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await _held_schedule(rt, clock, "buffer_one")
    await clock.advance(20)  # START + 45: ticks 20 (buffered), 30 and 40 (skipped)
    assert await _statuses(rt) == [(START + 10, "RUNNING")]
    [first] = await scheduled_runs(rt, "held")
    await rt.signal(first.id, "hold")
    await rt.settle()
    assert await _statuses(rt) == [(START + 10, "COMPLETED"), (START + 20, "RUNNING")]
    [schedule] = await rt.schedules()
    assert schedule.skipped == 2
    assert [r for _, r in results(schedule)] == [
        "started", "buffered", "skipped", "skipped", "started",
    ]  # fmt: skip


async def test_allow_all_starts_every_tick(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    await _held_schedule(rt, clock, "allow_all")
    assert await _statuses(rt) == [(START + 10, "RUNNING"), (START + 20, "RUNNING")]


async def test_cancel_other_ends_the_running_run_then_starts(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await _held_schedule(rt, clock, "cancel_other")
    await rt.settle()
    assert await _statuses(rt) == [(START + 10, "TERMINATED"), (START + 20, "RUNNING")]
    [schedule] = await rt.schedules()
    assert [r for _, r in results(schedule)] == ["started", "buffered", "started"]


async def test_terminate_other_ends_the_running_run_and_starts_at_once(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await _held_schedule(rt, clock, "terminate_other")
    await rt.settle()
    assert await _statuses(rt) == [(START + 10, "TERMINATED"), (START + 20, "RUNNING")]
    [first, _] = await scheduled_runs(rt, "held")
    assert "overlap terminate_other" in (first.reason or "")
    [schedule] = await rt.schedules()
    assert [r for _, r in results(schedule)] == ["started", "started"]


async def test_a_buffered_tick_survives_a_restart(db_path: str, clock: VirtualClock) -> None:
    """The run it waits for ends while the process is down: the tick starts on recovery."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await _held_schedule(rt, clock, "buffer_one")
        [first] = await scheduled_runs(rt, "held")
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        await rt.signal(first.id, "hold")
        await rt.settle()
        assert (await _statuses(rt))[:2] == [(START + 10, "COMPLETED"), (START + 20, "RUNNING")]
