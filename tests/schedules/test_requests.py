"""`rt.trigger` and `rt.backfill` obey the schedule's overlap policy, as Temporal's do.

Temporal's TriggerImmediatelyRequest and BackfillRequest carry an optional
`overlap_policy` that overrides the schedule's for that request; unset, the
scheduler resolves it to the schedule's own (temporalio/api
temporal/api/schedule/v1/message.proto; temporalio/temporal
service/worker/scheduler/workflow.go, `resolveOverlapPolicy`). A backfill
takes its ticks "as if that time passed by right now, all at once": oldest
first, each one seeing the runs the ones before it started.
"""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

import cadenza
from cadenza.testing import VirtualClock
from tests.schedules._helpers import HELD, results, scheduled_runs, scheduled_times

START = 1_800_000_000.0
HOUR = 3600.0
PAST = (START - 5 * HOUR, START - 1)  # five hourly ticks: START - 5h ... START - 1h
PAST_TICKS = [START - k * HOUR for k in range(5, 0, -1)]


async def _held(rt: cadenza.Runtime, overlap: str) -> None:
    """An hourly schedule of a run that waits for a signal (no tick of its own in these tests)."""
    await rt.register(HELD)
    await rt.schedule("s", "held", every_s=HOUR, overlap=overlap)


async def _statuses(rt: cadenza.Runtime) -> list[tuple[float, str]]:
    runs = await scheduled_runs(rt, "held")
    return list(zip(scheduled_times(runs), [str(r.status) for r in runs], strict=True))


async def _two_triggers(
    rt: cadenza.Runtime, clock: VirtualClock, overlap: str
) -> tuple[str | None, str | None]:
    await _held(rt, overlap)
    first = await rt.trigger("s")
    await clock.advance(1)
    second = await rt.trigger("s")
    return first, second


def _ticks_counted(rt: cadenza.Runtime, result: str) -> str:
    assert rt.metrics is not None
    text = generate_latest(rt.metrics).decode()
    line = f'cadenza_schedule_ticks_total{{result="{result}",schedule="s"}}'
    found = [t for t in text.splitlines() if t.startswith(line)]
    return found[0].split()[-1] if found else "0"


# -- trigger -------------------------------------------------------------------


async def test_trigger_under_skip_starts_nothing_while_a_run_runs(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    first, second = await _two_triggers(rt, clock, "skip")
    assert first is not None
    assert second is None
    assert await _statuses(rt) == [(START, "RUNNING")]
    [schedule] = await rt.schedules()
    assert schedule.skipped == 1
    assert results(schedule) == [(START, "triggered"), (START + 1, "skipped")]
    assert _ticks_counted(rt, "skipped") == "1.0"


async def test_trigger_under_buffer_one_starts_when_the_run_ends(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    first, second = await _two_triggers(rt, clock, "buffer_one")
    assert first is not None
    assert second is None
    await clock.advance(1)
    assert await rt.trigger("s") is None  # one is buffered already: skipped
    assert await _statuses(rt) == [(START, "RUNNING")]
    await rt.signal(first, "hold")
    await rt.settle()
    assert await _statuses(rt) == [(START, "COMPLETED"), (START + 1, "RUNNING")]
    [schedule] = await rt.schedules()
    assert [r for _, r in results(schedule)] == ["triggered", "buffered", "skipped", "triggered"]


async def test_trigger_under_allow_all_starts(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    first, second = await _two_triggers(rt, clock, "allow_all")
    assert first is not None
    assert second not in (None, first)
    assert await _statuses(rt) == [(START, "RUNNING"), (START + 1, "RUNNING")]


async def test_trigger_under_cancel_other_ends_the_run_then_starts(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    _, second = await _two_triggers(rt, clock, "cancel_other")
    assert second is None  # it starts once the other has ended
    await rt.settle()
    assert await _statuses(rt) == [(START, "TERMINATED"), (START + 1, "RUNNING")]
    [schedule] = await rt.schedules()
    assert [r for _, r in results(schedule)] == ["triggered", "buffered", "triggered"]


async def test_trigger_under_terminate_other_ends_the_run_and_starts(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    first, second = await _two_triggers(rt, clock, "terminate_other")
    assert second is not None
    await rt.settle()
    assert await _statuses(rt) == [(START, "TERMINATED"), (START + 1, "RUNNING")]
    assert "overlap terminate_other" in ((await rt.get(first or "")).reason or "")


async def test_trigger_can_override_the_policy(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    await _held(rt, "skip")
    await rt.trigger("s")
    await clock.advance(1)
    assert await rt.trigger("s", overlap="allow_all") is not None
    assert await _statuses(rt) == [(START, "RUNNING"), (START + 1, "RUNNING")]
    with pytest.raises(cadenza.InvalidArgument, match="overlap"):
        await rt.trigger("s", overlap="queue")


# -- backfill ------------------------------------------------------------------


async def test_backfill_under_skip_starts_the_first_tick_only(rt: cadenza.Runtime) -> None:
    await _held(rt, "skip")
    ids = await rt.backfill("s", *PAST)
    assert len(ids) == 1
    assert await _statuses(rt) == [(PAST_TICKS[0], "RUNNING")]
    [schedule] = await rt.schedules()
    assert results(schedule) == [
        (PAST_TICKS[0], "backfilled"), *[(t, "skipped") for t in PAST_TICKS[1:]],
    ]  # fmt: skip
    assert schedule.skipped == 4


async def test_backfill_under_buffer_one_holds_the_second_tick(rt: cadenza.Runtime) -> None:
    await _held(rt, "buffer_one")
    [first] = await rt.backfill("s", *PAST)
    assert [r for _, r in results((await rt.schedules())[0])] == [
        "backfilled", "buffered", "skipped", "skipped", "skipped",
    ]  # fmt: skip
    await rt.signal(first, "hold")
    await rt.settle()
    assert await _statuses(rt) == [(PAST_TICKS[0], "COMPLETED"), (PAST_TICKS[1], "RUNNING")]


async def test_backfill_under_allow_all_starts_every_tick(rt: cadenza.Runtime) -> None:
    await _held(rt, "allow_all")
    assert len(await rt.backfill("s", *PAST)) == 5
    assert await _statuses(rt) == [(t, "RUNNING") for t in PAST_TICKS]


async def test_backfill_under_cancel_other_starts_the_last_tick_once_the_first_ended(
    rt: cadenza.Runtime,
) -> None:
    await _held(rt, "cancel_other")
    assert len(await rt.backfill("s", *PAST)) == 1
    await rt.settle()
    assert await _statuses(rt) == [(PAST_TICKS[0], "TERMINATED"), (PAST_TICKS[-1], "RUNNING")]


async def test_backfill_under_terminate_other_leaves_the_last_tick_running(
    rt: cadenza.Runtime,
) -> None:
    await _held(rt, "terminate_other")
    assert len(await rt.backfill("s", *PAST)) == 5
    await rt.settle()
    assert await _statuses(rt) == [
        *[(t, "TERMINATED") for t in PAST_TICKS[:-1]], (PAST_TICKS[-1], "RUNNING"),
    ]  # fmt: skip


async def test_backfill_can_override_the_policy(rt: cadenza.Runtime) -> None:
    await _held(rt, "skip")
    assert len(await rt.backfill("s", *PAST, overlap="allow_all")) == 5
    with pytest.raises(cadenza.InvalidArgument, match="overlap"):
        await rt.backfill("s", *PAST, overlap="queue")
