"""TaskDef timeouts as DeciderService applies them (issue 12, item 3): the timeout policy on
a poll timeout, the totalTimeoutSeconds budget over all attempts, and a WAIT with a TaskDef."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock


def _one(name: str = "work") -> dict[str, Any]:
    return {"name": "wf", "tasks": [{"name": name, "taskReferenceName": "t"}]}


@pytest.mark.parametrize(
    ("policy", "run_status", "task_statuses"),
    [
        ("RETRY", "RUNNING", ["TIMED_OUT", "SCHEDULED"]),
        ("TIME_OUT_WF", "TIMED_OUT", ["TIMED_OUT"]),
        ("ALERT_ONLY", "RUNNING", ["SCHEDULED"]),
    ],
)
async def test_a_poll_timeout_follows_the_timeout_policy(
    rt: cadenza.Runtime, clock: VirtualClock, policy: str, run_status: str,
    task_statuses: list[str],
) -> None:  # fmt: skip
    """checkTaskPollTimeout -> timeoutTaskWithTimeoutPolicy (DeciderService.java:845-880):
    RETRY times the task out (then retried), TIME_OUT_WF times the run out, ALERT_ONLY logs."""
    await rt.register(_one())
    await rt.register_task({"name": "work", "pollTimeoutSeconds": 30, "retryCount": 1,
                            "retryDelaySeconds": 0, "timeoutPolicy": policy})  # fmt: skip
    run_id = await rt.start("wf")
    await clock.advance(30)
    await rt.settle()
    run = await rt.get(run_id)
    assert (run.status, [t.status for t in run.tasks]) == (run_status, task_statuses)
    if policy != "ALERT_ONLY":
        assert run.tasks[0].reason == (
            "Task poll timed out after 30 seconds. Poll timeout configured as 30 seconds. "
            f"Timeout policy configured to {policy}"
        )


async def test_a_failure_after_the_total_budget_is_not_retried(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """DeciderService.retry (:609-629): once totalTimeoutSeconds have passed since the first
    attempt was scheduled, a failure is not retried, whatever retries are left; the run
    FAILED (the task did not time out) with Conductor's reason. ALERT_ONLY keeps the budget's
    own deadline from timing the task out first."""
    await rt.register(_one())
    await rt.register_task({"name": "work", "retryCount": 5, "retryDelaySeconds": 0,
                            "totalTimeoutSeconds": 10, "timeoutPolicy": "ALERT_ONLY"})  # fmt: skip
    run_id = await rt.start("wf")
    first = await rt.poll("work")
    assert first is not None
    await rt.fail(first.id, "boom")  # t=0: retried
    await rt.settle()
    second = await rt.poll("work")
    assert second is not None
    assert second.attempt == 1
    await clock.advance(12)
    await rt.fail(second.id, "boom")  # t=12: the 10 s budget is spent
    await rt.settle()
    run = await rt.get(run_id)
    assert run.status == "FAILED"
    assert [t.status for t in run.tasks] == ["FAILED", "FAILED"]
    assert run.reason == (
        f"Task {second.id}/work exceeded total timeout of 10 seconds (elapsed 12 seconds across "
        "all attempts). No further retries will be attempted."
    )


async def test_the_total_budget_times_out_a_task_in_its_retry_delay(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """checkTotalTimeout (:783) counts retry delays too: a retry still waiting out its delay
    when the budget ends is timed out (RETRY policy), and then not retried; the run is
    TIMED_OUT at exactly the budget's end."""
    await rt.register(_one())
    await rt.register_task({"name": "work", "retryCount": 5, "retryDelaySeconds": 60,
                            "totalTimeoutSeconds": 20, "timeoutPolicy": "RETRY"})  # fmt: skip
    run_id = await rt.start("wf")
    started = (await rt.get(run_id)).created_at
    first = await rt.poll("work")
    assert first is not None
    await rt.fail(first.id, "boom")
    await clock.advance(19.999)
    assert (await rt.get(run_id)).status == "RUNNING"
    await clock.advance(0.001)
    await rt.settle()
    run = await rt.get(run_id)
    assert (run.status, [t.status for t in run.tasks]) == ("TIMED_OUT", ["FAILED", "TIMED_OUT"])
    assert run.ended_at == started + 20
    assert (run.tasks[1].reason or "").startswith(
        f"Task work/{run.tasks[1].id} exceeded total timeout of 20 seconds"
    )


async def test_a_retried_wait_waits_out_its_delay_scheduled_then_starts(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A WAIT with a TaskDef times out per its timeoutSeconds (checkTaskTimeout) and is
    retried after retryDelaySeconds; until then the new attempt is SCHEDULED, then it is
    IN_PROGRESS and can be signalled."""
    await rt.register({"name": "w", "tasks": [
        {"name": "waiter", "taskReferenceName": "w", "type": "WAIT"}]})  # fmt: skip
    await rt.register_task({"name": "waiter", "timeoutSeconds": 2, "retryCount": 1,
                            "retryDelaySeconds": 10, "timeoutPolicy": "RETRY"})  # fmt: skip
    run_id = await rt.start("w")
    await clock.advance(2)
    await rt.settle()
    assert [t.status for t in (await rt.get(run_id)).tasks] == ["TIMED_OUT", "SCHEDULED"]
    with pytest.raises(cadenza.InvalidOperation):
        await rt.signal(run_id, "w", {})  # not waiting yet
    await clock.advance(10)
    await rt.settle()
    assert [t.status for t in (await rt.get(run_id)).tasks] == ["TIMED_OUT", "IN_PROGRESS"]
    await rt.signal(run_id, "w", {"ok": True})
    await rt.settle()
    run = await rt.get(run_id)
    assert (run.status, run.tasks[1].output) == ("COMPLETED", {"ok": True})
