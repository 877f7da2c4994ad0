"""WAIT tasks, timeouts and their timers, on the virtual clock."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cadenza
from cadenza.testing import VirtualClock
from tests._logs import capture_logs


def waiting(
    name: str = "waiting", wait_input: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A WAIT task, then a SIMPLE task (so what follows the wait is observable)."""
    return {
        "name": name,
        "tasks": [
            {
                "name": "pause",
                "taskReferenceName": "w",
                "type": "WAIT",
                "inputParameters": wait_input or {},
            },
            {"name": "after", "taskReferenceName": "after", "inputParameters": {}},
        ],
        **extra,
    }


def one_task(name: str = "one", **extra: Any) -> dict[str, Any]:
    return {"name": name, "tasks": [{"name": "work", "taskReferenceName": "work"}], **extra}


async def test_a_wait_with_a_duration_never_fires_early(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """At due - 1 ms the WAIT is still IN_PROGRESS; at due it is COMPLETED and the next task scheduled."""
    await rt.register(waiting(wait_input={"duration": "1m 30s"}))
    run_id = await rt.start("waiting")
    run = await rt.get(run_id)
    assert run.tasks[0].status == "IN_PROGRESS"
    await clock.advance(89.999)
    assert [t.status for t in (await rt.get(run_id)).tasks] == ["IN_PROGRESS"]
    await clock.advance(0.001)
    run = await rt.get(run_id)
    assert [t.status for t in run.tasks] == ["COMPLETED", "SCHEDULED"]
    assert run.tasks[0].ended_at == pytest.approx(clock.now())


async def test_a_wait_until_a_time_in_a_zone_fires_then(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """`until` with a zone is read in that zone."""
    await clock.advance_to(1_893_456_000.0 - 7200)  # 2030-01-01T00:00Z minus two hours
    await rt.register(
        waiting(wait_input={"until": "2030-01-01 01:00 +01:00"})
    )  # = 2030-01-01T00:00Z
    run_id = await rt.start("waiting")
    await clock.advance(7199.999)
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    await clock.advance(0.001)
    assert (await rt.get(run_id)).tasks[0].status == "COMPLETED"


async def test_a_wait_with_neither_waits_for_a_signal(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """No duration or until: only `signal` completes it, with the signal's output."""
    await rt.register(waiting())
    run_id = await rt.start("waiting")
    await clock.advance(86400 * 30)
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    with pytest.raises(cadenza.InvalidOperation):
        await rt.signal(run_id, "after", {"x": 1})
    await rt.signal(run_id, "w", {"approved": True})
    run = await rt.get(run_id)
    assert run.tasks[0].status == "COMPLETED"
    assert run.tasks[0].output == {"approved": True}
    with pytest.raises(cadenza.InvalidOperation):
        await rt.signal(run_id, "w")


@pytest.mark.parametrize(
    "wait_input",
    [{"duration": "5s", "until": "2030-01-01"}, {"duration": "soon"}, {"until": "next tuesday"}],
    ids=["both", "bad-duration", "bad-until"],
)
async def test_a_wait_that_cannot_be_understood_fails_for_good(
    rt: cadenza.Runtime, wait_input: dict[str, Any]
) -> None:
    """Both inputs, or one that does not parse: FAILED_WITH_TERMINAL_ERROR naming the value."""
    await rt.register(waiting(wait_input=wait_input))
    run = await rt.wait(await rt.start("waiting"))
    assert run.status == "FAILED"
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert "'w'" in (run.tasks[0].reason or "")


async def test_a_waiting_run_is_passivated_and_reloaded_by_its_timer(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A run only waiting holds no actor in memory; its timer brings it back."""
    await rt.register(waiting(wait_input={"duration": "10s"}))
    run_ids = [await rt.start("waiting") for _ in range(20)]
    await rt.settle()
    assert rt._engine._runs.active() == 0
    await clock.advance(10)
    runs = [await rt.get(run_id) for run_id in run_ids]
    assert all(run.tasks[0].status == "COMPLETED" for run in runs)
    assert all(run.tasks[1].status == "SCHEDULED" for run in runs)


async def test_overdue_waits_fire_at_once_after_a_restart_in_deadline_order(
    db_path: str, clock: VirtualClock
) -> None:
    """Timers due during the outage fire when the runtime opens, earliest deadline first, without loading parked runs."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(waiting(wait_input={"duration": "${workflow.input.wait}"}))
        ids = {seconds: await rt.start("waiting", {"wait": seconds}) for seconds in (30, 10, 20)}
    await clock.advance(3600)
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert rt._engine.parked_at_open == 3
        await rt.settle()
        runs = {seconds: await rt.get(run_id) for seconds, run_id in ids.items()}
        assert all(run.tasks[0].status == "COMPLETED" for run in runs.values())
    with sqlite3.connect(db_path) as db:
        order = [
            stream
            for (stream,) in db.execute(
                "SELECT stream_id FROM records WHERE CAST(payload AS TEXT) LIKE '%task_completed%' ORDER BY seq"
            )
        ]
    assert order == [ids[10], ids[20], ids[30]]


async def test_timers_due_together_fire_in_one_batch_sharing_commits(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A hundred WAITs due at once complete together, in far fewer commits than records."""
    await rt.register(waiting(wait_input={"duration": "1h"}))
    for _ in range(100):
        await rt.start("waiting")
    await rt.settle()
    records, commits = rt._engine.journal.stats.records, rt._engine.journal.stats.commits
    await clock.advance(3600)
    assert rt._engine.journal.stats.records - records == 100
    assert rt._engine.journal.stats.commits - commits <= 10


async def test_a_task_timeout_with_retry_policy_times_out_the_attempt_and_retries(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """timeoutSeconds counts from the start; RETRY ends the attempt TIMED_OUT and schedules another."""
    await rt.register(one_task())
    await rt.register_task(
        {
            "name": "work",
            "timeoutSeconds": 60,
            "timeoutPolicy": "RETRY",
            "retryCount": 1,
            "retryDelaySeconds": 0,
        }
    )
    run_id = await rt.start("one")
    task = await rt.poll("work")
    assert task is not None
    await clock.advance(59.999)
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    await clock.advance(0.001)
    run = await rt.get(run_id)
    assert [t.status for t in run.tasks] == ["TIMED_OUT", "SCHEDULED"]
    with pytest.raises(cadenza.StaleTask):
        await rt.complete(task.id, {})


async def test_a_task_timeout_with_time_out_wf_times_out_the_run(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """TIME_OUT_WF: the task and the run end TIMED_OUT, retries or not."""
    await rt.register(one_task())
    await rt.register_task(
        {"name": "work", "timeoutSeconds": 5, "timeoutPolicy": "TIME_OUT_WF", "retryCount": 3}
    )
    run_id = await rt.start("one")
    assert await rt.poll("work") is not None
    await clock.advance(5)
    run = await rt.get(run_id)
    assert run.status == "TIMED_OUT"
    assert [t.status for t in run.tasks] == ["TIMED_OUT"]


async def test_an_alert_only_timeout_reports_and_changes_nothing(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """ALERT_ONLY logs a structured event once and leaves the task running."""
    await rt.register(one_task())
    await rt.register_task({"name": "work", "timeoutSeconds": 5, "timeoutPolicy": "ALERT_ONLY"})
    run_id = await rt.start("one")
    assert await rt.poll("work") is not None
    with capture_logs() as logs:
        await clock.advance(10)
    assert [e["kind"] for e in logs if e["event"] == "run.deadline_passed"] == ["timeout"]
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"


async def test_a_poll_timeout_times_out_a_task_no_worker_took(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """pollTimeoutSeconds: a task left in its queue that long is TIMED_OUT and, with the
    RETRY timeout policy, retried."""
    await rt.register(one_task())
    await rt.register_task(
        {"name": "work", "pollTimeoutSeconds": 30, "retryCount": 1, "retryDelaySeconds": 0,
         "timeoutPolicy": "RETRY"}
    )  # fmt: skip
    run_id = await rt.start("one")
    await clock.advance(29.999)
    assert (await rt.get(run_id)).tasks[0].status == "SCHEDULED"
    await clock.advance(0.001)
    assert [t.status for t in (await rt.get(run_id)).tasks] == ["TIMED_OUT", "SCHEDULED"]


async def test_a_workflow_timeout_times_out_the_run(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Workflow timeoutSeconds with TIME_OUT_WF: the run ends TIMED_OUT, its tasks cancelled."""
    await rt.register(one_task(timeoutSeconds=120, timeoutPolicy="TIME_OUT_WF"))
    run_id = await rt.start("one")
    await clock.advance(119.999)
    assert (await rt.get(run_id)).status == "RUNNING"
    await clock.advance(0.001)
    run = await rt.get(run_id)
    assert run.status == "TIMED_OUT"
    assert run.tasks[0].status == "CANCELED"
    assert await rt.poll("work") is None


async def test_a_workflow_timeout_alert_only_keeps_it_running(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Conductor's default workflow policy, ALERT_ONLY, only reports."""
    await rt.register(one_task(timeoutSeconds=120))
    run_id = await rt.start("one")
    with capture_logs() as logs:
        await clock.advance(200)
    assert [e["kind"] for e in logs if e["event"] == "run.deadline_passed"] == ["workflow_timeout"]
    assert (await rt.get(run_id)).status == "RUNNING"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    waits=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=6),
    steps=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=8),
)
async def test_waits_never_fire_early_and_always_fire_once_due(
    db_path: str, waits: list[int], steps: list[int]
) -> None:
    """For any WAIT durations and clock advances: complete iff the clock reached the deadline."""
    clock = VirtualClock(start=2_000_000_000.0)
    async with cadenza.Runtime(":memory:", clock=clock) as rt:
        await rt.register(waiting(wait_input={"duration": "${workflow.input.s}"}))
        started = clock.now()
        ids = [(await rt.start("waiting", {"s": seconds}), seconds) for seconds in waits]
        for step in steps:
            await clock.advance(step / 10)
            elapsed = clock.now() - started
            for run_id, seconds in ids:
                done = (await rt.get(run_id)).tasks[0].status == "COMPLETED"
                assert done == (elapsed >= seconds)


@pytest.mark.parametrize(
    "damage", ["wake_at = NULL", "wake_at = wake_at + 1000"], ids=["lost", "late"]
)
async def test_recovery_finds_a_timer_the_journal_row_lost_and_repairs_it(
    db_path: str, clock: VirtualClock, damage: str
) -> None:
    """A parked run whose row lost or misplaced its deadline is reported and fires on time (Temporal #11869)."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(waiting(wait_input={"duration": "60s"}))
        broken = await rt.start("waiting")
        healthy = await rt.start("waiting")
    with sqlite3.connect(db_path) as db:
        assert (
            db.execute(f"UPDATE streams SET {damage} WHERE stream_id = ?", (broken,)).rowcount == 1
        )
    with capture_logs() as logs:
        async with cadenza.Runtime(db_path, clock=clock) as rt:
            await rt.settle()
            assert rt._engine.timers_audited == 2
            assert rt._engine.timers_repaired == 1
            await clock.advance(60)
            assert (await rt.get(broken)).tasks[0].status == "COMPLETED"
            assert (await rt.get(healthy)).tasks[0].status == "COMPLETED"
    assert [e["run_id"] for e in logs if e["event"] == "timer.repaired"] == [broken]


async def test_a_wait_past_the_runs_timer_quota_fails_clearly(
    db_path: str, clock: VirtualClock
) -> None:
    """A run may hold only max_timers_per_run pending deadlines; the next WAIT fails naming the quota."""
    two_waits = {
        "name": "two_waits",
        "tasks": [
            {
                "name": "a",
                "taskReferenceName": "a",
                "type": "WAIT",
                "inputParameters": {"duration": "1s"},
            },
            {
                "name": "b",
                "taskReferenceName": "b",
                "type": "WAIT",
                "inputParameters": {"duration": "1s"},
            },
        ],
    }
    async with cadenza.Runtime(db_path, clock=clock, max_timers_per_run=1) as rt:
        await rt.register(two_waits)
        run_id = await rt.start("two_waits")
        await clock.advance(1)
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == [
            "COMPLETED",
            "IN_PROGRESS",
        ]  # one at a time is within quota
    with pytest.raises(ValueError, match="max_timers_per_run"):
        cadenza.Runtime(db_path, clock=clock, max_timers_per_run=0)


async def test_a_task_types_timer_quota_holds_across_runs_and_restarts(
    db_path: str, clock: VirtualClock
) -> None:
    """Past max_timers_per_type pending WAITs of one type, the next fails naming the quota; the count
    is rebuilt exactly after a restart (from the journal's rows) and frees up as WAITs fire."""
    async with cadenza.Runtime(db_path, clock=clock, max_timers_per_type=2) as rt:
        await rt.register(waiting(wait_input={"duration": "60s"}))
        first = [await rt.start("waiting") for _ in range(2)]
        refused = await rt.wait(await rt.start("waiting"))
        assert refused.status == "FAILED"
        assert "max_timers_per_type" in (refused.tasks[0].reason or "")
        assert "'pause'" in (refused.tasks[0].reason or "")
        assert rt._engine.timer_counts == {"pause": 2}
    async with cadenza.Runtime(db_path, clock=clock, max_timers_per_type=2) as rt:
        assert rt._engine.timer_counts == {"pause": 2}
        again = await rt.wait(await rt.start("waiting"))
        assert again.status == "FAILED"
        await clock.advance(60)
        for run_id in first:
            assert (await rt.get(run_id)).tasks[0].status == "COMPLETED"
        assert rt._engine.timer_counts == {}
        accepted = await rt.get(await rt.start("waiting"))
        assert accepted.tasks[0].status == "IN_PROGRESS"
        assert rt._engine.timer_counts == {"pause": 1}
