"""Differences from Conductor found by reading its core (issue 12, section 2), part three.

Every test names the Conductor source it follows (conductor-oss/conductor,
core/src/main/java/com/netflix/conductor/core/execution/...).
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock
from tests.language._defs import quick, simple, workflow


def terminate(status: str, **extra: Any) -> dict[str, Any]:
    return {"name": "t", "taskReferenceName": "t", "type": "TERMINATE",
            "inputParameters": {"terminationStatus": status, **extra}}  # fmt: skip


async def fail(rt: cadenza.Runtime, name: str, reason: str) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.fail(task.id, reason)
    await rt.settle()
    return task.id


async def complete(rt: cadenza.Runtime, name: str) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.complete(task.id, {"done": name})
    await rt.settle()
    return task.id


# -- 1. the failure workflow -----------------------------------------------------------


async def test_the_failure_workflow_gets_the_failed_run_its_correlation_id_and_domains(
    rt: cadenza.Runtime,
) -> None:
    """WorkflowExecutorOps.terminateWorkflow (~:866-889): the failure workflow's input is the
    failed run's input plus `workflowId`, `reason`, `failureStatus`, `failureTaskId` (only if
    the run has a failed task: a permissive failure ending the run names none) and
    `failedWorkflow` (the run itself); it starts with the failed run's correlationId and
    taskToDomain, and the failed run's output gains `conductor.failure_workflow: <id>`."""
    await rt.register(workflow("cleanup", simple("note", **quick())))
    await rt.register(
        workflow(
            "main",
            simple("p", permissive=True, **quick()),
            simple("last", **quick()),
            failureWorkflow="cleanup",
        )
    )
    run_id = await rt.start("main", {"k": 1}, correlation_id="corr-7",
                            task_to_group={"note": "blue"})  # fmt: skip
    await rt.settle()
    await fail(rt, "p", "NETWORK ERROR")
    await complete(rt, "last")
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    (cleanup,) = await rt.runs(name="cleanup")
    assert run.output == {"conductor.failure_workflow": cleanup.id}
    cleanup = await rt.get(cleanup.id)
    assert cleanup.correlation_id == "corr-7"
    assert cleanup.tasks[0].group == "blue"
    failed = cleanup.input.pop("failedWorkflow")
    assert cleanup.input == {
        "k": 1, "workflowId": run_id, "reason": run.reason, "failureStatus": "FAILED",
    }  # fmt: skip
    assert failed["workflowId"] == run_id
    assert failed["workflowName"] == "main"
    assert failed["status"] == "FAILED"
    assert failed["correlationId"] == "corr-7"
    assert failed["input"] == {"k": 1}
    assert failed["reasonForIncompletion"] == run.reason
    assert [t["referenceTaskName"] for t in failed["tasks"]] == ["p", "last"]
    assert [t["status"] for t in failed["tasks"]] == ["FAILED", "COMPLETED"]


async def test_a_run_terminated_by_its_terminate_task_starts_its_failure_workflow(
    rt: cadenza.Runtime,
) -> None:
    """WorkflowExecutorOps.endExecution (~:665): a TERMINATE task with terminationStatus
    TERMINATED ends the run through `terminate(workflow, TerminateWorkflowException)`, which
    starts the failure workflow (~:2141-2169) with the TERMINATE task as the failed task; an
    operator's terminate (`terminateWorkflow(id, reason)`, ~:757) starts none."""
    await rt.register(workflow("cleanup", simple("note", **quick())))
    await rt.register(workflow("ends", terminate("TERMINATED"), failureWorkflow="cleanup"))
    await rt.register(workflow("stopped", simple("a", **quick()), failureWorkflow="cleanup"))
    run = await rt.wait(await rt.start("ends", {"x": 2}))
    assert run.status == "TERMINATED"
    (cleanup,) = await rt.runs(name="cleanup")
    assert run.output == {"conductor.failure_workflow": cleanup.id}
    cleanup = await rt.get(cleanup.id)
    assert cleanup.input["failureStatus"] == "TERMINATED"
    assert cleanup.input["failureTaskId"] == run.tasks[0].id
    assert cleanup.input["x"] == 2

    stopped = await rt.start("stopped", {})
    await rt.settle()
    await rt.terminate(stopped, "by hand")
    await rt.settle()
    assert len(await rt.runs(name="cleanup")) == 1
    assert "conductor.failure_workflow" not in (await rt.get(stopped)).output


async def test_a_timed_out_run_names_its_failure_workflow_in_its_output(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """DeciderService.checkWorkflowTimeout throws TerminateWorkflowException(TIMED_OUT), which
    `terminate` turns into the failure workflow's start (WorkflowExecutorOps ~:2141)."""
    await rt.register(workflow("cleanup", simple("note", **quick())))
    await rt.register(
        workflow(
            "slow", simple("a", **quick()), failureWorkflow="cleanup",
            timeoutSeconds=10, timeoutPolicy="TIME_OUT_WF",
        )
    )  # fmt: skip
    run_id = await rt.start("slow", {})
    await rt.settle()
    await clock.advance(11)
    await rt.settle()
    run = await rt.get(run_id)
    assert run.status == "TIMED_OUT"
    (cleanup,) = await rt.runs(name="cleanup")
    assert run.output["conductor.failure_workflow"] == cleanup.id
    assert (await rt.get(cleanup.id)).input["failureStatus"] == "TIMED_OUT"


# -- 2. TERMINATE's output ---------------------------------------------------------------


async def test_a_terminate_tasks_output_is_its_workflow_output_map(rt: cadenza.Runtime) -> None:
    """Terminate.java getInputFromParam: the task's outputData is the `workflowOutput` map
    itself (a non-map value as {"output": value}), and DeciderService.updateWorkflowOutput
    (~:416-437) makes that output the workflow's."""
    await rt.register(workflow("m", terminate("COMPLETED", workflowOutput={"o": 1})))
    await rt.register(workflow("v", terminate("COMPLETED", workflowOutput=7)))
    run = await rt.wait(await rt.start("m", {}))
    assert run.tasks[0].output == {"o": 1}
    assert run.output == {"o": 1}
    run = await rt.wait(await rt.start("v", {}))
    assert run.tasks[0].output == {"output": 7}
    assert run.output == {"output": 7}
