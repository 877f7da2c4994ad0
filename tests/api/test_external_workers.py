"""External workers: poll, complete, fail, update, heartbeat; fencing."""

from __future__ import annotations

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conftest import three_steps


async def test_poll_hands_out_the_highest_priority_then_the_oldest(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Within a group: higher priority first, then the task that became ready first."""
    await rt.register(three_steps())
    low_old = await rt.start("three_steps", {"n": 1}, priority=1)
    await clock.advance(1)
    high = await rt.start("three_steps", {"n": 1}, priority=50)
    await clock.advance(1)
    low_new = await rt.start("three_steps", {"n": 1}, priority=1)
    order = []
    for _ in range(3):
        task = await rt.poll("step_a", worker_id="w1")
        assert task is not None
        order.append(task.run_id)
    assert order == [high, low_old, low_new]
    assert await rt.poll("step_a") is None


async def test_poll_marks_in_progress_and_complete_moves_on(rt: cadenza.Runtime) -> None:
    """A polled task is IN_PROGRESS with the worker's id; completing it schedules the next."""
    await rt.register(three_steps())
    run_id = await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a", worker_id="ext-1")
    assert task is not None
    assert task.input == {"n": 5}
    assert task.status == "IN_PROGRESS"
    await rt.settle()
    run = await rt.get(run_id)
    assert run.tasks[0].status == "IN_PROGRESS"
    await rt.complete(task.id, {"n": 6})
    run = await rt.get(run_id)
    assert [t.status for t in run.tasks] == ["COMPLETED", "SCHEDULED"]
    assert run.tasks[1].input == {"n": 6}


async def test_completing_twice_is_stale_and_changes_nothing(rt: cadenza.Runtime) -> None:
    """The second completion of an attempt raises StaleTask; the first one's output stays."""
    await rt.register(three_steps())
    await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.complete(task.id, {"n": 1})
    with pytest.raises(cadenza.StaleTask):
        await rt.complete(task.id, {"n": 999})
    run = await rt.get(task.run_id)
    assert run.tasks[0].output == {"n": 1}


async def test_a_result_for_a_superseded_attempt_is_stale(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """After a retry is scheduled, the old attempt's completion is refused (fencing)."""
    await rt.register(three_steps())
    await rt.register_task({"name": "step_a", "retryCount": 1, "retryDelaySeconds": 0})
    await rt.start("three_steps", {"n": 5})
    first = await rt.poll("step_a")
    assert first is not None
    await rt.fail(first.id, "worker lost its connection")
    with pytest.raises(cadenza.StaleTask):
        await rt.complete(first.id, {"n": 1})
    second = await rt.poll("step_a")
    assert second is not None
    assert second.attempt == 1
    assert second.id != first.id


async def test_a_terminal_failure_from_outside_fails_the_run(rt: cadenza.Runtime) -> None:
    """`fail(..., terminal=True)` is not retried."""
    await rt.register(three_steps())
    run_id = await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.fail(task.id, "no such customer", terminal=True)
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert run.reason == f"Task {task.id} failed with status: FAILED and reason: 'no such customer'"


async def test_update_with_callback_requeues_after_the_delay(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """`update(callback_after_s=...)` keeps the output and hands the task out again after the delay."""
    await rt.register(three_steps())
    await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.update(task.id, output={"progress": 50}, callback_after_s=30)
    assert await rt.poll("step_a") is None
    await clock.advance(29.9)
    assert await rt.poll("step_a") is None
    await clock.advance(0.1)
    again = await rt.poll("step_a")
    assert again is not None
    assert again.id == task.id
    await rt.complete(again.id, {"n": 6})
    run = await rt.get(task.run_id)
    assert run.tasks[0].output == {"progress": 50, "n": 6} or run.tasks[0].output == {"n": 6}


async def test_reset_callbacks_readies_a_task_at_once_and_only_once(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """`reset_callbacks` (Conductor's resetCallbacksForWorkflow) makes a task an update put
    back for an hour ready now; the hour's enqueue, withdrawn, never hands it out again,
    and a later shorter callback of the same task is not swallowed by that withdrawal."""
    await rt.register(three_steps())
    run_id = await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.update(task.id, callback_after_s=3600)
    assert await rt.poll("step_a") is None
    await rt.reset_callbacks(run_id)
    again = await rt.poll("step_a")
    assert again is not None
    assert again.id == task.id
    await rt.update(task.id, callback_after_s=5)
    await clock.advance(5)
    third = await rt.poll("step_a")
    assert third is not None
    assert third.id == task.id
    await clock.advance(3600)  # the withdrawn enqueue's time: nothing is handed out twice
    assert await rt.poll("step_a") is None
    await rt.complete(task.id, {"n": 6})
    assert (await rt.get(run_id)).tasks[1].status == "SCHEDULED"


async def test_reset_callbacks_leaves_ready_and_system_tasks_and_refuses_an_ended_run(
    rt: cadenza.Runtime,
) -> None:
    """Nothing to reset is no error; a WAIT is not a worker task; an ended run refuses."""
    await rt.register(
        {"name": "waits", "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT",
                                     "inputParameters": {"duration": "1 hour"}}]}
    )  # fmt: skip
    run_id = await rt.start("waits")
    await rt.reset_callbacks(run_id)
    await rt.settle()
    run = await rt.get(run_id)
    assert (run.status, run.tasks[0].status) == ("RUNNING", "IN_PROGRESS")
    await rt.terminate(run_id)
    with pytest.raises(cadenza.InvalidOperation):
        await rt.reset_callbacks(run_id)
    with pytest.raises(cadenza.NotFound):
        await rt.reset_callbacks("no-such-run")


async def test_heartbeat_for_a_task_not_in_progress_is_stale(rt: cadenza.Runtime) -> None:
    """Heartbeats are accepted only from the attempt's current holder."""
    await rt.register(three_steps())
    await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.heartbeat(task.id)
    await rt.complete(task.id, {"n": 1})
    with pytest.raises(cadenza.StaleTask):
        await rt.heartbeat(task.id)
    with pytest.raises(cadenza.NotFound):
        await rt.complete("not-a-task-id")


async def test_a_long_poll_waits_for_work(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """`poll(wait=...)` returns the task that arrives while it waits, or None at the deadline."""
    import anyio

    await rt.register(three_steps())
    got: list[cadenza.TaskRun | None] = []

    async def poller() -> None:
        got.append(await rt.poll("step_a", wait=10))

    async with anyio.create_task_group() as tg:
        tg.start_soon(poller)
        await rt.settle()
        await rt.start("three_steps", {"n": 1})
    assert got[0] is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(poller)
        await rt.settle()
        await clock.advance(10)
    assert got[1] is None


async def test_pause_resume_and_terminate(rt: cadenza.Runtime) -> None:
    """Pause holds new tasks back, resume continues, terminate ends; senseless ones are refused."""
    await rt.register(three_steps())
    run_id = await rt.start("three_steps", {"n": 5})
    task = await rt.poll("step_a")
    assert task is not None
    await rt.pause(run_id)
    with pytest.raises(cadenza.InvalidOperation):
        await rt.pause(run_id)
    await rt.complete(task.id, {"n": 6})  # results still land while paused
    run = await rt.get(run_id)
    assert run.status == "PAUSED"
    assert len(run.tasks) == 1
    await rt.resume(run_id)
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 2
    await rt.terminate(run_id, "customer cancelled")
    run = await rt.get(run_id)
    assert run.status == "TERMINATED"
    assert run.reason == "customer cancelled"
    assert run.tasks[1].status == "CANCELED"
    assert await rt.poll("step_b") is None
    with pytest.raises(cadenza.InvalidOperation):
        await rt.resume(run_id)
    with pytest.raises(cadenza.NotFound):
        await rt.pause("missing-run")
