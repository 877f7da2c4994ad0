"""The failure workflow a run owes at its end, as Conductor's WorkflowExecutorOps starts it.

Design note
-----------
A run ended by `terminate(workflow, TerminateWorkflowException)` — a task
out of retries, a workflow timeout, a TERMINATE task with status FAILED or
TERMINATED, permissive failures at the end — starts its definition's
`failureWorkflow` (`$workflow.input.x` names it from the input); an
operator's terminate starts none (WorkflowExecutorOps.terminateWorkflow(id,
reason) passes no failure workflow). Its input is the failed run's input
plus `workflowId`, `reason`, `failureStatus`, `failureTaskId` (only if the
run has a failed task) and `failedWorkflow` (the run, as Conductor's
Workflow JSON names its fields); the failed run's output gains
`conductor.failure_workflow: <id>` (WorkflowExecutorOps ~:866-889).

The id is derived from the run and its event count when it ends, and
`decide` writes it into the ending event's output, so the start (an
effect, once the end is durable) and the output agree, and a repeat after
a crash finds the run started.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from cadenza._json import copy_json
from cadenza.core._events import Event, WorkflowFailed
from cadenza.core._schedule import roots_for
from cadenza.core._state import WorkflowState
from cadenza.core._status import WorkflowStatus
from cadenza.language._definition import WorkflowDef
from cadenza.language._expressions import lookup

OUTPUT_KEY = "conductor.failure_workflow"


def failure_workflow_name(definition: WorkflowDef | None, state: WorkflowState) -> str:
    """The failure workflow the definition names for this run ("" for none)."""
    name = definition.failure_workflow if definition is not None else None
    if not name:
        return ""
    if name.startswith("$"):  # `$workflow.input.x` or `${workflow.input.x}`
        return str(lookup(name.strip("${}"), roots_for(state)) or "")
    return name


def _ends_with_failure_run(status: str, task_id: str | None) -> bool:
    """FAILED and TIMED_OUT always; TERMINATED only by a task (a TERMINATE task, a CANCELED
    task), never by an operator."""
    return status in ("FAILED", "TIMED_OUT") or (status == "TERMINATED" and task_id is not None)


def owes_failure_run(definition: WorkflowDef | None, state: WorkflowState) -> bool:
    """The run ended in a way that starts its failure workflow, and it names one."""
    return (
        state.status.terminal
        and state.status is not WorkflowStatus.COMPLETED
        and _ends_with_failure_run(state.status.value, state.failed_task_id)
        and bool(failure_workflow_name(definition, state))
    )


def failure_run_id(state: WorkflowState) -> str:
    """The failure run of the run's end: from its output, else derived from the run."""
    named = state.output.get(OUTPUT_KEY)
    if isinstance(named, str) and named:
        return named
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:failure:{state.id}:{state.events}"))


def naming_failure_run(
    definition: WorkflowDef, state: WorkflowState, decisions: list[Event]
) -> list[Event]:
    """`decisions`, the run's end (if any) naming the failure run in its output."""
    for position, event in enumerate(decisions):
        if not isinstance(event, WorkflowFailed):
            continue
        if not _ends_with_failure_run(event.status, event.task_id):
            break
        if not failure_workflow_name(definition, state):
            break
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:failure:{state.id}:{state.events}"))
        output = dict(event.output if event.output is not None else state.output)
        output[OUTPUT_KEY] = run_id
        decisions = list(decisions)
        decisions[position] = dataclasses.replace(event, output=output)
        break
    return decisions


def failure_run_input(state: WorkflowState) -> dict[str, Any]:
    """The failure workflow's input (a copy), as WorkflowExecutorOps.terminateWorkflow builds it."""
    run_input: dict[str, Any] = {
        **state.input,
        "workflowId": state.id,
        "reason": state.reason,
        "failureStatus": state.status.value,
    }
    if state.failed_task_id is not None:
        run_input["failureTaskId"] = state.failed_task_id
    run_input["failedWorkflow"] = as_conductor_workflow(state)
    return copy_json(run_input)  # type: ignore[no-any-return]


def as_conductor_workflow(state: WorkflowState) -> dict[str, Any]:
    """The run as Conductor's Workflow JSON names its fields (shares values: copy it).

    The output is the one the failure run's start saw: without its own id.
    """
    return {
        "workflowId": state.id,
        "workflowName": state.name,
        "workflowVersion": state.version,
        "status": state.status.value,
        "input": state.input,
        "output": {k: v for k, v in state.output.items() if k != OUTPUT_KEY},
        "variables": state.variables,
        "reasonForIncompletion": state.reason,
        "failedTaskId": state.failed_task_id,
        "correlationId": state.correlation_id,
        "priority": state.priority,
        "parentWorkflowId": state.parent_id,
        "taskToDomain": dict(state.task_to_group),
        "createTime": int(state.created_at * 1000),
        "updateTime": int(state.updated_at * 1000),
        "endTime": int((state.ended_at or 0) * 1000),
        "lastRetriedTime": int((state.retried_at or 0) * 1000),
        "tasks": [
            {
                "taskId": task.id,
                "referenceTaskName": task.ref,
                "taskType": task.type,
                "taskDefName": task.name,
                "status": task.status.value,
                "retryCount": task.attempt,
                "retried": task.retried,
                "retriedTaskId": task.retried_from,
                "iteration": task.iteration,
                "inputData": task.input,
                "outputData": task.output,
                "reasonForIncompletion": task.reason,
                "workerId": task.worker_id,
                "scheduledTime": int(task.scheduled_at * 1000),
                "startTime": int((task.started_at or 0) * 1000),
                "endTime": int((task.ended_at or 0) * 1000),
                "pollCount": task.poll_count,
            }
            for task in state.tasks
        ],
    }
