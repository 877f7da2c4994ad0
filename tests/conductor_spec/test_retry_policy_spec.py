"""Conductor's RetryPolicySpec, ported: backoff caps, jitter and the total timeout budget.

Conductor asserts the rescheduled task's `callbackAfterSeconds` /
`callbackAfterMs`; cadenza does not show the delay on the task, so it is
measured: on the virtual clock, the retry cannot be polled before the delay
and can be once it has passed (`retry_delay`).
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import poll, status

SPEC = "RetryPolicySpec.groovy"
TASK = "retry_policy_task"
WF = "retry_policy_wf"


async def _setup(rt: cadenza.Runtime, **taskdef: Any) -> str:
    await rt.register(
        {
            "name": WF,
            "version": 1,
            "tasks": [{"name": TASK, "taskReferenceName": "retry_task_ref", "type": "SIMPLE"}],
            "ownerEmail": "test@example.com",
            "timeoutSeconds": 3600,
            "timeoutPolicy": "ALERT_ONLY",
        }
    )
    await rt.register_task({"name": TASK, **taskdef})
    return await rt.start(WF, {}, version=1)


async def _fail_next(rt: cadenza.Runtime) -> None:
    task = await poll(rt, TASK, "test-worker")
    assert task is not None
    await rt.fail(task.id, "failed")
    await rt.settle()


async def retry_delay(rt: cadenza.Runtime, clock: VirtualClock, low: float, high: float) -> float:
    """Seconds until the retry can be polled: not before `low`, found by `high` (0.05 s steps)."""
    start = clock.now()
    if low > 0:
        await clock.advance(low - 0.01)
        assert await rt.poll(TASK, worker_id="probe", wait=0.0) is None, "polled before the delay"
        await clock.advance(0.01)
    while True:
        await rt.settle()
        task = await rt.poll(TASK, worker_id="test-worker")
        if task is not None:
            await rt.fail(task.id, "failed")  # the spec's next updateTask(FAILED), if any
            await rt.settle()
            return clock.now() - start
        assert clock.now() - start < high, "no retry by the end of the delay"
        await clock.advance(0.05)


async def test_exponential_backoff_delay_is_capped_by_max_retry_delay_seconds(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "Exponential backoff delay is capped by maxRetryDelaySeconds"."""
    await _setup(rt, retryCount=5, retryDelaySeconds=2, retryLogic="EXPONENTIAL_BACKOFF",
                 maxRetryDelaySeconds=3, timeoutSeconds=3600, responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    assert 2 <= await retry_delay(rt, clock, 2, 2.05) < 2.05  # callbackAfterSeconds == 2
    assert 3 <= await retry_delay(rt, clock, 3, 3.05) < 3.05  # 4, capped: == 3


async def test_linear_backoff_delay_is_capped_by_max_retry_delay_seconds(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "Linear backoff delay is capped by maxRetryDelaySeconds"."""
    await _setup(rt, retryCount=5, retryDelaySeconds=2, retryLogic="LINEAR_BACKOFF",
                 backoffScaleFactor=2, maxRetryDelaySeconds=5, timeoutSeconds=3600,
                 responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    assert 4 <= await retry_delay(rt, clock, 4, 4.05) < 4.05  # callbackAfterSeconds == 4
    assert 5 <= await retry_delay(rt, clock, 5, 5.05) < 5.05  # 8, capped: == 5


async def test_backoff_jitter_ms_adds_a_random_offset_in_0_max_jitter_ms_to_the_retry_delay(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "backoffJitterMs adds a random offset in [0, maxJitterMs] to the retry delay"."""
    await _setup(rt, retryCount=3, retryDelaySeconds=60, retryLogic="FIXED",
                 backoffJitterMs=5000, timeoutSeconds=3600, responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    assert 60 <= await retry_delay(rt, clock, 60, 65.05) <= 65.05  # callbackAfterMs in [60s, 65s]


async def test_backoff_jitter_ms_of_zero_produces_no_jitter_callback_after_ms_equals_base_delay_exactly(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "backoffJitterMs of zero produces no jitter — callbackAfterMs equals base delay exactly"."""
    await _setup(rt, retryCount=3, retryDelaySeconds=30, retryLogic="FIXED",
                 backoffJitterMs=0, timeoutSeconds=3600, responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    assert 30 <= await retry_delay(rt, clock, 30, 30.05) < 30.05  # callbackAfterMs == 30_000


async def test_cap_is_applied_before_jitter_callback_after_ms_is_in_cap_ms_cap_ms_max_jitter_ms(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "Cap is applied before jitter — callbackAfterMs is in [cap_ms, cap_ms + maxJitterMs]"."""
    await _setup(rt, retryCount=5, retryDelaySeconds=2, retryLogic="EXPONENTIAL_BACKOFF",
                 maxRetryDelaySeconds=3, backoffJitterMs=2000, timeoutSeconds=3600,
                 responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    assert 2 <= await retry_delay(rt, clock, 2, 4.05) <= 4.05
    assert 3 <= await retry_delay(rt, clock, 3, 5.05) <= 5.05  # callbackAfterMs in [3s, 5s]


async def test_total_timeout_seconds_0_is_disabled_retries_continue_as_normal(
    rt: cadenza.Runtime,
) -> None:
    """RetryPolicySpec.groovy: "totalTimeoutSeconds=0 is disabled — retries continue as normal"."""
    run_id = await _setup(rt, retryCount=5, retryDelaySeconds=0, retryLogic="FIXED",
                          totalTimeoutSeconds=0, timeoutSeconds=3600,
                          responseTimeoutSeconds=3600)  # fmt: skip
    await _fail_next(rt)
    run = await status(rt, run_id)
    assert len(run.tasks) >= 2
    assert run.tasks[-1].status == "SCHEDULED"


async def test_total_timeout_seconds_exceeded_on_retry_workflow_fails_with_no_further_retries(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "totalTimeoutSeconds exceeded on retry — workflow fails with no further retries"."""
    run_id = await _setup(rt, retryCount=10, retryDelaySeconds=0, retryLogic="FIXED",
                          totalTimeoutSeconds=5, timeoutSeconds=0, responseTimeoutSeconds=1,
                          timeoutPolicy="TIME_OUT_WF")  # fmt: skip
    run = await status(rt, run_id)
    assert any(t.status == "SCHEDULED" for t in run.tasks)
    # The spec backdates firstScheduledTime by 60 s (> the 5 s budget), then fails the task:
    # Conductor's next decide ends the run, there in retry() (:609). cadenza's deadline for
    # the budget (checkTotalTimeout, :783) ends it when the budget is spent, before any
    # worker could fail it, and retries nothing after.
    await clock.advance(60)
    assert (await status(rt, run_id)).status in ("TIMED_OUT", "FAILED")
    assert await poll(rt, TASK, "test-worker") is None


async def test_total_timeout_seconds_exceeded_in_check_total_timeout_in_progress_task_is_timed_out(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """RetryPolicySpec.groovy: "totalTimeoutSeconds exceeded in checkTotalTimeout — IN_PROGRESS task is timed out"."""
    run_id = await _setup(rt, retryCount=10, retryDelaySeconds=0, retryLogic="FIXED",
                          totalTimeoutSeconds=5, timeoutSeconds=0, responseTimeoutSeconds=1,
                          timeoutPolicy="RETRY")  # fmt: skip
    # The spec polls, then backdates firstScheduledTime by 60 s (> the 5 s budget) and
    # sweeps; here the worker holds the task, heartbeating within its 1 s response timeout,
    # while the budget runs out.
    polled = await poll(rt, TASK, "test-worker")
    assert polled is not None
    for _ in range(5):
        await clock.advance(0.9)
        await rt.heartbeat(polled.id)
    await clock.advance(0.6)  # t = 5.1 s: past the budget, within the lease
    run = await status(rt, run_id)  # Conductor: sweep(wfId)
    timed_out = next(t for t in run.tasks if t.id == polled.id)
    assert timed_out.status == "TIMED_OUT"
