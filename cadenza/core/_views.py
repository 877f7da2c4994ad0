"""Read-only snapshots handed to callers: `WorkflowRun` and `TaskRun`.

They are copies: mutating one never touches a run's live state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._status import TaskStatus, WorkflowStatus


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One attempt of one task, as of the snapshot."""

    id: str
    ref: str
    type: str
    status: TaskStatus
    attempt: int
    input: dict[str, Any]
    output: dict[str, Any]
    group: str
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

    @classmethod
    def of(cls, task: TaskState, run_id: str) -> TaskRun:
        return cls(
            id=task.id,
            ref=task.ref,
            type=task.type,
            status=task.status,
            attempt=task.attempt,
            input=copy.deepcopy(task.input),
            output=copy.deepcopy(task.output),
            group=task.group,
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
        )


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A run as of the snapshot; `tasks` in scheduling order."""

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
        return cls(
            id=state.id,
            name=state.name,
            version=state.version,
            status=state.status,
            input=copy.deepcopy(state.input),
            output=copy.deepcopy(state.output),
            variables=copy.deepcopy(state.variables),
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
