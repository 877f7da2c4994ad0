"""What a recovered run puts back in its queues: the attempts a crash took out of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cadenza.core._events import TaskRequeued
from cadenza.core._state import IN_PROGRESS_AT_ONCE, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._user_defined import awaiting

if TYPE_CHECKING:
    from cadenza.engine.shared._ownership import SharedDispatch


def requeued(state: WorkflowState, now: float, shared: SharedDispatch | None) -> list[TaskRequeued]:
    """An event per attempt in progress when the process stopped, at its original place (it
    keeps its `ready_at`): not one that runs at once, nor a system task's that awaits its
    completion, nor one whose shared-queue row a worker claimed before this process recovered
    the run (`SharedDispatch.holds`: the claim stands, the task stays in progress with it)."""
    return [
        TaskRequeued(at=now, task_id=task.id, ready_at=min(task.ready_at, now))
        for task in state.tasks
        if task.status is TaskStatus.IN_PROGRESS
        and not task.retried
        and task.type not in IN_PROGRESS_AT_ONCE
        and not awaiting(task)
        and (shared is None or not shared.holds(task.id))
    ]
