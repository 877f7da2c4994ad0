"""Conductor's SubWorkflowSpec, ported: a parent with one SUB_WORKFLOW, timed out, terminated, retried."""

from __future__ import annotations

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import modified_def, status
from tests.conductor_spec._support_b import (
    SIMPLE,
    SUB,
    T1,
    T2,
    W1,
    W2,
    WITH_SUB,
    child,
    complete,
    expect,
    fail,
    harness_with,
)

SPEC = "SubWorkflowSpec.groovy"
SUB_WF_TASK = "simple_task_in_sub_wf"


async def _setup(rt: cadenza.Runtime, task2_retries: int = 1) -> None:
    await harness_with(
        rt,
        "simple_one_task_sub_workflow_integration_test.json",
        "simple_workflow_1_integration_test.json",
        "workflow_with_sub_workflow_1_integration_test.json",
        task2_retries=task2_retries,
    )


async def _started(rt: cadenza.Runtime, correlation_id: str, subwf: str) -> tuple[str, str]:
    inputs = {"param1": "p1 value", "param2": "p2 value", "subwf": subwf}
    run_id = await rt.start(WITH_SUB, inputs, version=1, correlation_id=correlation_id)
    expect(await status(rt, run_id), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    return run_id, child(run, 1)


async def test_retrying_a_subworkflow_where_parent_workflow_timed_out_due_to_workflow_timeout(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """SubWorkflowSpec.groovy: "Test retrying a subworkflow where parent workflow timed out due to workflowTimeout"."""
    await _setup(rt)
    await modified_def(rt, WITH_SUB, timeoutPolicy="TIME_OUT_WF", timeoutSeconds=10)
    run_id, sub_id = await _started(rt, "wf_with_subwf_test_1", "sub_workflow")
    sub_task_id = (await status(rt, run_id)).tasks[1].id
    expect(await status(rt, sub_id), "RUNNING", [(SUB_WF_TASK, "SCHEDULED")], size=1)

    await clock.advance(10)
    expect(await status(rt, run_id), "TIMED_OUT", [(T1, "COMPLETED"), (SUB, "CANCELED")], size=2)
    expect(await status(rt, sub_id), "TERMINATED", [(SUB_WF_TASK, "CANCELED")], size=1)

    await rt.retry(sub_id)
    expect(
        await status(rt, sub_id),
        "RUNNING",
        [(SUB_WF_TASK, "CANCELED"), (SUB_WF_TASK, "SCHEDULED")],
        size=2,
    )
    expect(await status(rt, run_id), "RUNNING", {1: (SUB, "IN_PROGRESS")}, size=2)

    await complete(rt, SUB_WF_TASK, W1, {"op": "simple_task_in_sub_wf.done"})
    expect(
        await status(rt, sub_id),
        "COMPLETED",
        [(SUB_WF_TASK, "CANCELED"), (SUB_WF_TASK, "COMPLETED")],
        size=2,
    )
    run = await status(rt, run_id)
    assert next(t for t in run.tasks if t.id == sub_task_id).status == "COMPLETED"
    expect(run, "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)
    assert run.output["op"] == "simple_task_in_sub_wf.done"


async def test_terminating_a_subworkflow_terminates_parent_workflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowSpec.groovy: "Test terminating a subworkflow terminates parent workflow"."""
    await _setup(rt)
    run_id, sub_id = await _started(rt, "wf_with_subwf_test_1", "sub_workflow")
    expect(await status(rt, run_id), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    expect(await status(rt, sub_id), "RUNNING", [(SUB_WF_TASK, "SCHEDULED")], size=1)

    reason = "terminating from a test case"
    await rt.terminate(sub_id, reason)
    run = await status(rt, sub_id)
    expect(run, "TERMINATED", [(SUB_WF_TASK, "CANCELED")], size=1)
    assert run.reason == reason

    run = await status(rt, run_id)
    expect(run, "TERMINATED", [(T1, "COMPLETED"), (SUB, "CANCELED")], size=2)
    assert run.reason
    assert reason in run.reason


async def test_retrying_a_workflow_with_subworkflow_resume(rt: cadenza.Runtime) -> None:
    """SubWorkflowSpec.groovy: "Test retrying a workflow with subworkflow resume"."""
    await _setup(rt, task2_retries=0)
    run_id, sub_id = await _started(rt, "wf_retry_with_subwf_resume_test", SIMPLE)
    expect(await status(rt, sub_id), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    expect(await status(rt, sub_id), "RUNNING", [(T1, "COMPLETED"), (T2, "SCHEDULED")], size=2)
    await fail(rt, T2, W2, "failed")
    expect(await status(rt, sub_id), "FAILED", [(T1, "COMPLETED"), (T2, "FAILED")], size=2)
    expect(await status(rt, run_id), "FAILED", [(T1, "COMPLETED"), (SUB, "FAILED")], size=2)

    await rt.retry(run_id, resume_subworkflow_tasks=True)  # retry(workflowInstanceId, true)
    expect(
        await status(rt, sub_id),
        "RUNNING",
        [(T1, "COMPLETED"), (T2, "FAILED"), (T2, "SCHEDULED")],
        size=3,
    )
    expect(await status(rt, run_id), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    await complete(rt, T2, W2, {"op": "task2.done"})
    expect(
        await status(rt, sub_id),
        "COMPLETED",
        [(T1, "COMPLETED"), (T2, "FAILED"), (T2, "COMPLETED")],
        size=3,
    )
    expect(await status(rt, run_id), "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)
