"""Conductor's SystemTaskSpec, ported: a system task with asyncComplete completed from outside."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, status
from tests.conductor_spec._support_b import T1, W1, complete, differs, expect

SPEC = "SystemTaskSpec.groovy"


@differs(
    "USER_TASK is the test harness's own system-task plugin (a Spring bean, "
    "test-harness/src/test/java/com/netflix/conductor/test/utils/UserTask.java: start() sleeps "
    "1 s, then COMPLETED with output size, or IN_PROGRESS if asyncComplete). Conductor accepts "
    "any task type as USER_DEFINED (TaskType.java:106-118, UserDefinedTaskMapper.java:66-101) "
    "and runs it by the WorkflowSystemTask bean of that name; cadenza refuses an unknown task "
    "type at registration (by design) and has no system-task plugins nor asyncComplete for "
    "local workers"
)
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
    expect(await status(rt, run_id), "RUNNING", [(T1, "COMPLETED"), ("USER_TASK", "IN_PROGRESS")])
    await rt.signal(run_id, "user_task", {"op": "user.task.done"})
    expect(
        await status(rt, run_id),
        "COMPLETED",
        [(T1, "COMPLETED"), ("USER_TASK", "COMPLETED")],
        size=2,
    )
