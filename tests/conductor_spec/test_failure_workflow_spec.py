"""Conductor's FailureWorkflowSpec, ported: a failed run starts its failureWorkflow with its details."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, status
from tests.conductor_spec._support_b import SUB, expect

SPEC = "FailureWorkflowSpec.groovy"
DEFS = (
    "failure_workflow_for_terminate_task_workflow.json",
    "terminate_task_failed_workflow_integration.json",
    "test_task_failed_parent_workflow.json",
    "test_task_failed_sub_workflow.json",
)


async def _failure_run_of(rt: cadenza.Runtime, run_id: str, failed_task_id: str) -> None:
    run = await status(rt, run_id)
    failure = await status(rt, run.output["conductor.failure_workflow"])
    expect(failure, "COMPLETED", [("LAMBDA", "COMPLETED")], size=1)
    assert failure.correlation_id == run.correlation_id
    assert failure.input["workflowId"] == run_id
    assert failure.input["failureTaskId"] == failed_task_id
    assert failure.input["failedWorkflow"] is not None


async def test_workflow_with_a_task_that_failed(rt: cadenza.Runtime) -> None:
    """FailureWorkflowSpec.groovy: "Test workflow with a task that failed"."""
    await harness(rt, *DEFS)
    run_id = await rt.start(
        "test_terminate_task_failed_wf", {"a": 1}, version=1, correlation_id="testId"
    )
    run = await status(rt, run_id)
    expect(run, "FAILED", [("LAMBDA", "COMPLETED"), ("TERMINATE", "COMPLETED")], size=2)
    assert run.reason == "Early exit in terminate"
    assert run.output
    await _failure_run_of(rt, run_id, run.tasks[1].id)


async def test_workflow_with_a_task_failed_in_subworkflow(rt: cadenza.Runtime) -> None:
    """FailureWorkflowSpec.groovy: "Test workflow with a task failed in subworkflow"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_task_failed_parent_wf", {"a": 1}, version=1)
    run = await status(rt, run_id)
    sub_id = next(t for t in run.tasks if t.ref == "test_task_failed_sub_wf").sub_workflow_id
    assert sub_id
    sub = await status(rt, sub_id)
    expect(sub, "FAILED", [("LAMBDA", "COMPLETED"), ("TERMINATE", "COMPLETED")], size=2)
    assert sub.reason
    assert "Workflow is FAILED by TERMINATE task" in sub.reason

    run = await status(rt, run_id)
    expect(run, "FAILED", [("LAMBDA", "COMPLETED"), (SUB, "FAILED")], size=2)
    assert run.tasks[0].ref == "lambdaTask1"
    await _failure_run_of(rt, run_id, run.tasks[1].id)
