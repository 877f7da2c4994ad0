"""Read-only snapshots handed to callers: `WorkflowRun` and `TaskRun`.

They are copies: mutating one never touches a run's live state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cadenza._json import copy_plain
from cadenza.core._schedule import DEFAULT_GROUP, WAIT_GROUP
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._system_tasks import SYSTEM_GROUP

_NO_DOMAIN_GROUPS = frozenset({DEFAULT_GROUP, WAIT_GROUP, SYSTEM_GROUP})


def shown_group(group: str) -> str | None:
    """A task's group as callers see it: None (Conductor's null domain) for the default
    group and for the tasks no worker polls, else the group's name."""
    return None if group in _NO_DOMAIN_GROUPS else group


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One attempt of one task, as of the snapshot (a copy: changing it changes nothing).

    Attributes:
        id: the attempt's id, `<run id>-<n>`; what `complete`/`fail` take.
        ref: the task's `taskReferenceName` (`ref__<n>` inside a DO_WHILE).
        type: the task type (the TaskDef name of a SIMPLE task, else
            SWITCH, WAIT, SUB_WORKFLOW, ...; a FORK_JOIN or FORK_JOIN_DYNAMIC
            runs as FORK, as in Conductor).
        status: where the attempt is (`TaskStatus`).
        attempt: 0 for the first attempt, 1 for its first retry, ... (Conductor's retryCount).
        input: the resolved `inputParameters`.
        output: what the worker (or the system task) produced.
        group: the worker group (Conductor's domain) the attempt was queued
            in; None, as Conductor's null domain, for a task in the default
            group (no taskToDomain entry, or NO_DOMAIN) and for the tasks no
            worker polls (WAIT, HUMAN and the other system tasks).
        reason: why it failed, timed out or was cancelled (None otherwise).
        scheduled_at: when it was scheduled (Unix seconds, the runtime's clock).
        started_at: when a worker took it (None until then).
        ended_at: when it ended (None until then).
        iteration: the DO_WHILE iteration it belongs to (0 outside loops).
        run_id: the run the attempt belongs to.
        name: the task's name in the definition.
        worker_id: the id the polling worker gave (None for local workers).
        retried: a later attempt superseded this one.
        sub_workflow_id: a SUB_WORKFLOW task's child run id.
        error: the traceback of the exception a local worker raised, formatted
            (None otherwise); `reason` holds its one-line summary.
    """

    id: str
    ref: str
    type: str
    status: TaskStatus
    attempt: int
    input: dict[str, Any]
    output: dict[str, Any]
    group: str | None
    reason: str | None
    scheduled_at: float
    started_at: float | None
    ended_at: float | None
    iteration: int = 0
    run_id: str = ""
    name: str = ""
    worker_id: str | None = None
    retried: bool = False
    sub_workflow_id: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, task: TaskState, run_id: str) -> TaskRun:
        """A copy of the engine's state of `task` (internal: callers get these from `get`)."""
        return cls(
            id=task.id,
            ref=task.ref,
            type=task.type,
            status=task.status,
            attempt=task.attempt,
            input=copy_plain(task.input),
            output=copy_plain(task.output),
            group=shown_group(task.group),
            reason=task.reason,
            scheduled_at=task.scheduled_at,
            started_at=task.started_at,
            ended_at=task.ended_at,
            iteration=task.iteration,
            run_id=run_id,
            name=task.name,
            worker_id=task.worker_id,
            retried=task.retried,
            sub_workflow_id=task.output.get("subWorkflowId"),
            error=task.error,
        )


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A run as of the snapshot (a copy: changing it changes nothing).

    Attributes:
        id: the run id.
        name: the workflow's name.
        version: the definition version the run follows.
        status: where the run is (`WorkflowStatus`).
        input: the workflow input (with the definition's `inputTemplate` under it).
        output: the workflow output (its `outputParameters`, once it ended).
        variables: the workflow variables SET_VARIABLE tasks wrote.
        reason: why it failed, timed out or was terminated (None otherwise).
        priority: 0-99, higher first; its tasks carry it into their queues.
        correlation_id: the caller's correlation id, if any.
        parent_id: the parent run of a sub-workflow (None for a top-level run).
        tasks: every attempt, in scheduling order (Conductor's `seq` order; a task an
            operator skipped ahead of time first).
        created_at: when it started (Unix seconds, the runtime's clock).
        updated_at: when its last event happened.
        ended_at: when it ended (None while it runs).
        key: its idempotency key, if started with one.
    """

    id: str
    name: str
    version: int
    status: WorkflowStatus
    input: dict[str, Any]
    output: dict[str, Any]
    variables: dict[str, Any]
    reason: str | None
    priority: int
    correlation_id: str | None
    parent_id: str | None
    tasks: list[TaskRun] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    key: str | None = None

    @classmethod
    def of(cls, state: WorkflowState) -> WorkflowRun:
        """A copy of the engine's state of a run (internal: callers get these from `get`)."""
        return cls(
            id=state.id,
            name=state.name,
            version=state.version,
            status=state.status,
            input=copy_plain(state.input),
            output=copy_plain(state.output),
            variables=copy_plain(state.variables),
            reason=state.reason,
            priority=state.priority,
            correlation_id=state.correlation_id,
            parent_id=state.parent_id,
            tasks=[TaskRun.of(task, state.id) for task in state.tasks],
            created_at=state.created_at,
            updated_at=state.updated_at,
            ended_at=state.ended_at,
            key=state.key,
        )
