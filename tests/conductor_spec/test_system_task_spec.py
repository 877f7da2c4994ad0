"""Conductor's SystemTaskSpec, ported: a system task with asyncComplete completed from outside."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, status
from tests.conductor_spec._support_b import T1, W1, complete, expect

SPEC = "SystemTaskSpec.groovy"


async def test_system_task_with_async_complete_set_to_true(rt: cadenza.Runtime) -> None:
    """SystemTaskSpec.groovy: "Test system task with asyncComplete set to true"."""
    await harness(rt, "simple_workflow_with_async_complete_system_task_integration_test.json")
    run_id = await rt.start(
        "async_complete_integration_test_wf",
        {"param1": "p1 value", "param2": "p2 value"},
        version=1,
        correlation_id="async_complete_test",
    )
    expect(await status(rt, run_id), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    # Conductor's USER_TASK with asyncComplete goes IN_PROGRESS once executed and stays there
    in_progress = [(T1, "COMPLETED"), ("USER_TASK", "IN_PROGRESS")]
    expect(await status(rt, run_id), "RUNNING", in_progress, size=2)
    # "sweeper evaluates the workflow": the workflow state is unchanged
    expect(await status(rt, run_id), "RUNNING", in_progress, size=2)
    await rt.signal(run_id, "user_task", {"op": "user.task.done"})
    expect(
        await status(rt, run_id),
        "COMPLETED",
        [(T1, "COMPLETED"), ("USER_TASK", "COMPLETED")],
        size=2,
    )
