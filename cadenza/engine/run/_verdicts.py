"""A worker's verdict on an attempt (`TaskResult`), as the event its run journals.

A completion is `TaskCompleted`, a failure `TaskFailed` (FAILED, or
FAILED_WITH_TERMINAL_ERROR when terminal), and each releases what the
attempt held in the dispatch ledger (slot, limits, breaker verdict). A
system task that returned while async-complete (`cadenza.core._user_defined`)
is neither: its output is recorded and it leaves its worker group to await
its completion from outside, still holding its hand-out (it counts against
its TaskDef's `concurrentExecLimit` until it ends).
"""

from __future__ import annotations

from cadenza._errors import NotFound, StaleTask
from cadenza.core._events import Event, TaskCompleted, TaskFailed, TaskUpdated
from cadenza.core._operations import current_task
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._user_defined import AWAITING
from cadenza.dispatch._messages import TaskResult, TaskStartedMsg
from cadenza.engine.run._effects import Effect, Release


def hand_out_accepted(
    state: WorkflowState, message: TaskStartedMsg, effects: list[Effect]
) -> TaskState:
    """The task a hand-out starts; a refused poll's hand-out gives back (to `effects`) the
    slot it took. Raises the refusal (`StaleTask`, `NotFound`)."""
    try:
        return current_task(state, message.task_id, allow=(TaskStatus.SCHEDULED,))
    except (StaleTask, NotFound):
        task = state.task(message.task_id)
        if message.leased is not None and (task is None or task.status.terminal):
            effects.append(Release(message.task_id))  # its slot
        raise


def verdict(task_id: str, message: TaskResult, now: float) -> tuple[Event, Release | None]:
    """The event `message` makes of attempt `task_id`, and the release it calls for."""
    if message.awaiting and not message.failed:
        output = message.output or {}
        return TaskUpdated(at=now, task_id=task_id, output=output, group=AWAITING), None
    release = Release(task_id, failed=message.failed)
    if not message.failed:
        return TaskCompleted(at=now, task_id=task_id, output=message.output or {}), release
    failed = TaskFailed(
        at=now,
        task_id=task_id,
        reason=message.reason,
        status="FAILED_WITH_TERMINAL_ERROR" if message.terminal else "FAILED",
        output=message.output,
        lost=message.lost,
        error=message.error,
    )
    return failed, release
