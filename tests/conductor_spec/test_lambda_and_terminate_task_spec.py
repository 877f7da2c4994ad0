"""Conductor's LambdaAndTerminateTaskSpec, ported: LAMBDA tasks and TERMINATE ending a run.

Conductor's `tasks[i].seq == i + 1` is the task's position in the list: the
ported assertions on `tasks[i]` already pin it.
"""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, status
from tests.conductor_spec._support_b import (
    FORK,
    JOIN,
    SUB,
    T1,
    W1,
    complete,
    expect,
)

SPEC = "LambdaAndTerminateTaskSpec.groovy"
DEFS = (
    "failure_workflow_for_terminate_task_workflow.json",
    "terminate_task_completed_workflow_integration_test.json",
    "terminate_task_failed_workflow_integration.json",
    "simple_lambda_workflow_integration_test.json",
    "terminate_task_parent_workflow.json",
    "terminate_task_sub_workflow.json",
    "decision_and_terminate_integration_test.json",
)


async def test_workflow_with_a_terminate_task_when_the_status_is_completed(
    rt: cadenza.Runtime,
) -> None:
    """LambdaAndTerminateTaskSpec.groovy: "Test workflow with a terminate task when the status is completed"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_terminate_task_wf", {"a": 1}, version=1)
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [("LAMBDA", "COMPLETED"), ("TERMINATE", "COMPLETED")], size=2)
    assert run.reason
    assert "Workflow is COMPLETED by TERMINATE task" in run.reason
    assert run.output == {"result": {"testvalue": True}}


async def test_workflow_with_a_terminate_task_when_the_status_is_failed(
    rt: cadenza.Runtime,
) -> None:
    """LambdaAndTerminateTaskSpec.groovy: "Test workflow with a terminate task when the status is failed"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_terminate_task_failed_wf", {"a": 1}, version=1)
    run = await status(rt, run_id)
    expect(run, "FAILED", [("LAMBDA", "COMPLETED"), ("TERMINATE", "COMPLETED")], size=2)
    assert run.reason == "Early exit in terminate"
    assert run.output
    failure = await status(rt, run.output["conductor.failure_workflow"])
    expect(failure, "COMPLETED", [("LAMBDA", "COMPLETED")], size=1)
    assert failure.input["workflowId"] == run_id


def _by_type(run: cadenza.WorkflowRun) -> list[tuple[str, str]]:
    return sorted((t.type, t.status) for t in run.tasks)


async def test_workflow_with_a_terminate_task_when_the_workflow_has_a_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """LambdaAndTerminateTaskSpec.groovy: "Test workflow with a terminate task when the workflow has a subworkflow".

    Conductor lists the tasks [FORK, lambdaTask1, lambdaTask2, JOIN, SUB_WORKFLOW, WAIT]
    (seq 1-6): the fork's mapper schedules both branch heads and the JOIN in one round, and
    the next tasks of the synchronous LAMBDAs come in the next round
    (WorkflowExecutorOps.decide / scheduleTask). Each `with` block is checked as a multiset
    of (taskType, status) first, then in Conductor's order."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_terminate_task_parent_wf", {"a": 1}, version=1)
    run = await status(rt, run_id)
    running = [(FORK, "COMPLETED"), ("LAMBDA", "COMPLETED"), ("LAMBDA", "COMPLETED"),
               (JOIN, "IN_PROGRESS"), (SUB, "IN_PROGRESS"), ("WAIT", "IN_PROGRESS")]  # fmt: skip
    assert (run.status, _by_type(run)) == ("RUNNING", sorted(running))
    first = run
    sub_id = next(t for t in run.tasks if t.ref == "test_terminate_subworkflow").sub_workflow_id
    assert sub_id
    expect(await status(rt, sub_id), "RUNNING", [("integration_task_3", "SCHEDULED")], size=1)

    wait = next(t for t in run.tasks if t.type == "WAIT")
    await rt.signal(run_id, wait.ref)  # Conductor: updateTask(wait task COMPLETED)
    run = await status(rt, run_id)
    ended = [(FORK, "COMPLETED"), ("LAMBDA", "COMPLETED"), ("LAMBDA", "COMPLETED"),
             (JOIN, "CANCELED"), (SUB, "CANCELED"), ("WAIT", "COMPLETED"),
             ("TERMINATE", "COMPLETED")]  # fmt: skip
    assert (run.status, _by_type(run)) == ("COMPLETED", sorted(ended))
    assert run.reason
    assert "Workflow is COMPLETED by TERMINATE task" in run.reason
    sub = await status(rt, sub_id)
    expect(sub, "TERMINATED", [("integration_task_3", "CANCELED")], size=1)
    assert sub.reason
    assert (
        "Parent workflow has been terminated with reason: Workflow is COMPLETED by TERMINATE task"
        in sub.reason
    )

    expect(first, "RUNNING", running, size=6)  # in Conductor's order
    assert [first.tasks[1].ref, first.tasks[2].ref] == ["lambdaTask1", "lambdaTask2"]
    expect(run, "COMPLETED", ended, size=7)


async def test_workflow_with_a_terminate_task_within_a_decision_branch(
    rt: cadenza.Runtime,
) -> None:
    """LambdaAndTerminateTaskSpec.groovy: "Test workflow with a terminate task within a decision branch"."""
    await harness(rt, *DEFS)
    inputs = {"param1": "p1", "param2": "p2", "case": "two"}
    run_id = await rt.start("ConditionalTerminateWorkflow", inputs, version=1)
    expect(await status(rt, run_id), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1 completed"})
    run = await status(rt, run_id)
    expect(
        run,
        "FAILED",
        [(T1, "COMPLETED"), ("DECISION", "COMPLETED"), ("TERMINATE", "COMPLETED")],
        size=3,
    )
    assert run.output == {"output": "task1 completed"}
    assert run.reason
    assert "Workflow is FAILED by TERMINATE task" in run.reason
    assert run.tasks[0].output["op"] == "task1 completed"


async def test_workflow_with_lambda_task(rt: cadenza.Runtime) -> None:
    """LambdaAndTerminateTaskSpec.groovy: "Test workflow with lambda task"."""
    await harness(rt, *DEFS)
    run_id = await rt.start("test_lambda_wf", {"a": 1}, version=1)
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [("LAMBDA", "COMPLETED")], size=1)
    assert run.tasks[0].output == {"result": {"testvalue": True}}
