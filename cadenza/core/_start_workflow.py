"""START_WORKFLOW: a task that starts another, independent run (Conductor's StartWorkflow.java).

Design note
-----------
The task's input `startWorkflow` is a StartWorkflowRequest (`name`,
`version`, `input`, `correlationId`, `taskToDomain`, `priority`).
`start_request` reads it as StartWorkflow.getRequest does: missing, it
fails the task (`Missing 'startWorkflow' in input data.`); unreadable or
invalid, it fails it naming each problem (`startWorkflow validation
failed. 'name' -> Workflow name cannot be null or empty. `). A valid one
leaves the task IN_PROGRESS: the run's actor starts the run, once the
record that scheduled the task is durable, under an id derived from the
task's (`started_id`), so a start repeated after a crash finds it started;
the started run then tells the starter, whose task completes with output
`workflowId` (or fails with Conductor's NotFoundException message when no
such workflow is registered). As in StartWorkflow.start, a blank
`correlationId` or an empty `taskToDomain` takes the starter's. An inline
`workflowDef` is started as it is, neither registered nor validated
(`definition`; WorkflowExecutorOps.java:2746 resolveWorkflowDefinition),
named `name` unless it names itself; one that cannot run at all fails the
task with the DefinitionError's words.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cadenza.core._events import Event, TaskCompleted, TaskFailed
from cadenza.core._state import WorkflowState

START_WORKFLOW = "START_WORKFLOW"
_PARAM = "startWorkflow"


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A readable, valid StartWorkflowRequest, with the starter's defaults applied."""

    name: str
    version: int | None
    input: dict[str, Any]
    correlation_id: str | None
    task_to_group: dict[str, str] | None
    priority: int
    definition: dict[str, Any] | None = None  # an inline workflowDef, started unregistered


def started_id(task_id: str) -> str:
    """The id of the run a START_WORKFLOW task starts: derived, so a repeat finds it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:start:{task_id}"))


def start_request(task_input: dict[str, Any], starter: WorkflowState) -> StartRequest | str:
    """The request in `task_input`, or why the task fails (Conductor's words)."""
    raw = task_input.get(_PARAM)
    if raw is None:
        return f"Missing '{_PARAM}' in input data."
    if not isinstance(raw, dict):
        return f"Error reading StartWorkflowRequest. Cannot read {raw!r} as an object"
    unreadable = _unreadable(raw)
    if unreadable:
        return f"Error reading StartWorkflowRequest. {unreadable}"
    problems = []
    name = raw.get("name")
    if name is None or name == "":
        problems.append("'name' -> Workflow name cannot be null or empty. ")
    priority = raw.get("priority")
    priority = 0 if priority is None else priority
    if priority < 0:
        problems.append(f"'priority' -> priority: {priority} should be minimum 0. ")
    elif priority > 99:
        problems.append(f"'priority' -> priority: {priority} should be maximum 99. ")
    if problems:
        return f"{_PARAM} validation failed. " + "".join(problems)
    inline = raw.get("workflowDef")
    correlation = raw.get("correlationId")
    routes = raw.get("taskToDomain")
    return StartRequest(
        name=str(name),
        version=raw.get("version"),
        input=dict(raw.get("input") or {}),
        correlation_id=correlation
        if correlation and correlation.strip()
        else starter.correlation_id,
        task_to_group=dict(routes) if routes else (dict(starter.task_to_group) or None),
        priority=priority,
        definition={"name": str(name), **inline} if inline is not None else None,
    )


def _unreadable(raw: dict[str, Any]) -> str | None:
    """What does not map onto StartWorkflowRequest's field types, as Jackson would refuse."""
    fields: dict[str, tuple[type, ...]] = {
        "name": (str,), "version": (int,), "input": (dict,), "correlationId": (str,),
        "taskToDomain": (dict,), "priority": (int,), "workflowDef": (dict,),
    }  # fmt: skip
    for key, kinds in fields.items():
        value = raw.get(key)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            return f"'{key}' cannot be {value!r}"
    routes = raw.get("taskToDomain") or {}
    if not all(isinstance(v, str) for v in routes.values()):
        return f"'taskToDomain' must map task names to domain names, got {routes!r}"
    return None


def started_events(
    state: WorkflowState, task_id: str, run_id: str | None, reason: str | None, now: float
) -> list[Event]:
    """The starter hears of its START_WORKFLOW task's run: the task completes with
    `workflowId`, or fails with `reason`; nothing if the attempt is no longer in flight."""
    task = state.task(task_id)
    if task is None or task.retried or task.status.terminal or state.status.terminal:
        return []
    if run_id is None:
        return [TaskFailed(at=now, task_id=task.id, reason=reason or "not started",
                           status="FAILED")]  # fmt: skip
    return [TaskCompleted(at=now, task_id=task.id, output={"workflowId": run_id})]


def start_workflow_step(scheduled: list[Event], state: WorkflowState) -> list[Event]:
    """A START_WORKFLOW task's scheduling (in progress until its run started), failed at once
    if its request does not hold (`start_request`)."""
    task = scheduled[0]
    request = start_request(task.input, state)  # type: ignore[attr-defined]
    if isinstance(request, str):
        task_id: str = task.task_id  # type: ignore[attr-defined]
        failed = TaskFailed(at=state.updated_at, task_id=task_id, reason=request, status="FAILED")
        return [*scheduled, failed]
    return scheduled
