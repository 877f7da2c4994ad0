"""TERMINATE: the task completes in one round, the run ends in the next, as in Conductor.

Design note
-----------
Conductor's Terminate is a synchronous system task: it completes with its
`workflowOutput` as output in the round that scheduled it, beside whatever
else that round scheduled (Terminate.java); the next `DeciderService.decide`
finds a successful TERMINATE task and ends the run (`endExecution`):
everything still in flight is cancelled, and the run ends as its
`terminationStatus` says, with the task's `workflowOutput` and its
`terminationReason` (blank: `Workflow is <S> by TERMINATE task: <taskId>`,
a COMPLETED run included). A TERMINATE whose status is not COMPLETED, FAILED
or TERMINATED fails FAILED_WITH_TERMINAL_ERROR.

A mapper that refuses a task (a dynamic fork's bad input, a DYNAMIC task with
no name) raises `MapperRefused`, as Conductor's mappers throw
TerminateWorkflowException out of `DeciderService.decide`: the round it was
in is discarded, and `refused_round` ends the run from the state before that
round (`WorkflowExecutorOps.decide` → `terminate`): what earlier rounds left
in flight is cancelled, the output evaluated, the run FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    WorkflowCompleted,
    WorkflowFailed,
)
from cadenza.core._schedule import workflow_output
from cadenza.core._state import TaskState, WorkflowState
from cadenza.language._definition import TaskSpec, WorkflowDef
from cadenza.language._validate import TERMINATION_STATUSES


def terminate_step(spec: TaskSpec, scheduled: list[Event], now: float) -> list[Event]:
    """`scheduled` (the TERMINATE task's scheduling), then its completion or its failure."""
    task_id: str = scheduled[0].task_id  # type: ignore[attr-defined]
    task_input: dict[str, Any] = scheduled[0].input  # type: ignore[attr-defined]
    status = task_input.get("terminationStatus")
    if status not in TERMINATION_STATUSES:
        reason = f"task {spec.ref!r}: terminationStatus {status!r} is not COMPLETED, FAILED or TERMINATED"
        failed = TaskFailed(
            at=now, task_id=task_id, reason=reason, status="FAILED_WITH_TERMINAL_ERROR"
        )
        return [*scheduled, failed]
    return [*scheduled, TaskCompleted(at=now, task_id=task_id, output=_output(task_input))]


def terminated_run(task: TaskState, current: Mapping[str, TaskState], now: float) -> list[Event]:
    """The run's end a completed TERMINATE `task` makes: what is in flight is cancelled."""
    status = str(task.input.get("terminationStatus"))
    reason = str(task.input.get("terminationReason") or "").strip() or (
        f"Workflow is {status} by TERMINATE task: {task.id}"
    )
    output = _output(task.input)
    events: list[Event] = [
        TaskCanceled(at=now, task_id=t.id, reason=reason)
        for t in current.values()
        if not t.status.terminal
    ]
    if status == "COMPLETED":
        events.append(WorkflowCompleted(at=now, output=output, reason=reason))
    else:  # WorkflowExecutorOps.terminate: the TERMINATE task is the run's failed task
        events.append(
            WorkflowFailed(at=now, reason=reason, status=status, task_id=task.id, output=output)
        )
    return events


def _output(task_input: Mapping[str, Any]) -> dict[str, Any]:
    output = task_input.get("workflowOutput")
    if isinstance(output, dict):
        return dict(output)
    return {} if output is None else {"output": output}


class MapperRefused(Exception):
    """A task's mapper refused to schedule it; `reason` ends the run (see the module note).

    Never escapes `decide`: it discards the round and returns `refused_round`.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def refused_round(definition: WorkflowDef, state: WorkflowState, reason: str) -> list[Event]:
    """The run's end after a refused round, decided on `state` as it was before that round."""
    now = state.updated_at
    events: list[Event] = [
        TaskCanceled(at=now, task_id=t.id, reason=reason)
        for t in state.tasks
        if not t.retried and not t.status.terminal
    ]
    events.append(WorkflowFailed(at=now, reason=reason, output=workflow_output(definition, state)))
    return events
