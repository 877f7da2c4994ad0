"""Conductor's TaskLimitsWorkflowSpec, ported: rate limits and concurrentExecLimit hold tasks back."""

from __future__ import annotations

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import harness, poll, status
from tests.conductor_spec._support_b import complete, expect

SPEC = "TaskLimitsWorkflowSpec.groovy"
DEFS = (
    "rate_limited_system_task_workflow_integration_test.json",
    "rate_limited_simple_task_workflow_integration_test.json",
    "concurrency_limited_task_workflow_integration_test.json",
)
RATED = "test_simple_task_with_rateLimits"
LIMITED = "test_task_with_concurrency_limit"


async def test_verify_that_the_rate_limiting_for_system_tasks_is_honored(
    rt: cadenza.Runtime,
) -> None:
    """TaskLimitsWorkflowSpec.groovy: "Verify that the rate limiting for system tasks is honored"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_rate_limit_system_task_workflow", {}, version=1)
    expect(await status(rt, run_id), "COMPLETED", [("USER_TASK", "COMPLETED")], size=1)
    second = await rt.start("test_rate_limit_system_task_workflow", {}, version=1)
    expect(await status(rt, second), "RUNNING", [("USER_TASK", "SCHEDULED")], size=1)


async def test_verify_that_the_rate_limiting_for_simple_tasks_is_honored(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """TaskLimitsWorkflowSpec.groovy: "Verify that the rate limiting for simple tasks is honored"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_rate_limit_simple_task_workflow", {}, version=1)
    expect(await status(rt, run_id), "RUNNING", [(RATED, "SCHEDULED")], size=1)
    await complete(rt, RATED, "rate.limit.test.worker")
    expect(await status(rt, run_id), "COMPLETED", [(RATED, "COMPLETED")], size=1)

    second = await rt.start("test_rate_limit_simple_task_workflow", {}, version=1)
    expect(await status(rt, second), "RUNNING", [(RATED, "SCHEDULED")], size=1)
    assert await poll(rt, RATED, "rate.limit.test.worker") is None
    await clock.advance(10)
    await complete(rt, RATED, "rate.limit.test.worker")
    expect(await status(rt, second), "COMPLETED", [(RATED, "COMPLETED")], size=1)


async def test_verify_that_concurrency_limited_tasks_are_honored_during_workflow_execution(
    rt: cadenza.Runtime,
) -> None:
    """TaskLimitsWorkflowSpec.groovy: "Verify that concurrency limited tasks are honored during workflow execution"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_concurrency_limits_workflow", {}, version=1)
    expect(await status(rt, run_id), "RUNNING", [(LIMITED, "SCHEDULED")], size=1)
    first = await poll(rt, LIMITED, "test_task_worker")
    assert first is not None
    assert (first.type, first.run_id) == (LIMITED, run_id)

    second = await rt.start("test_concurrency_limits_workflow", {}, version=1)
    expect(await status(rt, second), "RUNNING", [(LIMITED, "SCHEDULED")], size=1)
    assert await poll(rt, LIMITED, "test_task_worker") is None

    await rt.complete(first.id)
    expect(await status(rt, run_id), "COMPLETED", [(LIMITED, "COMPLETED")], size=1)
    again = await poll(rt, LIMITED, "test_task_worker")
    assert again is not None
    assert (again.type, again.run_id) == (LIMITED, second)
