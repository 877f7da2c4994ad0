"""The JOIN of a fork: when it ends, and how, as Conductor's Join.execute decides.

Design note
-----------
A JOIN is in progress from the start; its input is `{"joinOn": [...]}`
(JoinTaskMapper.java:60-61; after a dynamic fork, the forked references,
ForkJoinDynamicTaskMapper.java:273-274). It waits until every joined task
is terminal, then (Join.java:59-160):

- its output holds each joined task's output under that task's reference
  (`ref__n` inside a loop, as Join.java appends the iteration), empty
  outputs left out ("Only add to task output if it's not empty");
- a joined task that did not succeed (a permissive one: any other has
  already failed the run) fails the JOIN with the failures' reasons, or
  cancels it if each of those was CANCELED;
- else an optional task that ended COMPLETED_WITH_ERRORS makes the JOIN
  COMPLETED_WITH_ERRORS, reason `<name>/<taskId> ... completed with errors`;
- else it completes.

`join_events` is pure: the walker hands it the run's current attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskMarked,
    TaskUpdated,
)
from cadenza.core._state import TaskState
from cadenza.core._status import TaskStatus
from cadenza.language._definition import TaskSpec


def join_events(
    task: TaskState,
    join_on: tuple[str, ...],
    current: Mapping[str, TaskState],
    iteration: int,
    optional: Callable[[TaskState], bool],
    now: float,
) -> list[Event]:
    """The JOIN `task`'s end over the references `join_on`, or [] while it waits.

    `current` maps references (`ref__n` in a loop) to their current attempts;
    `optional` says whether a joined task is `optional` in its definition.
    """
    outputs: dict[str, Any] = {}
    failed: list[TaskState] = []
    with_errors: list[TaskState] = []
    for joined in join_on:
        found = current.get(f"{joined}__{iteration}" if iteration else joined) or current.get(
            joined
        )
        if found is None or not found.status.terminal:
            return []
        if found.output:
            outputs[found.ref] = found.output
        if not found.status.successful:
            failed.append(found)
        elif found.status is TaskStatus.COMPLETED_WITH_ERRORS and optional(found):
            with_errors.append(found)
    if failed:
        reason = " ".join(t.reason for t in failed if t.reason)
        if all(t.status is TaskStatus.CANCELED for t in failed):
            return [TaskCanceled(at=now, task_id=task.id, reason=reason)]
        return [TaskFailed(at=now, task_id=task.id, reason=reason, output=outputs)]
    if with_errors:
        reason = "".join(f"{t.name}/{t.id} " for t in with_errors) + "completed with errors"
        return [
            TaskUpdated(at=now, task_id=task.id, output=outputs),
            TaskMarked(
                at=now, task_id=task.id, status=TaskStatus.COMPLETED_WITH_ERRORS.value,
                reason=reason,
            ),
        ]  # fmt: skip
    return [TaskCompleted(at=now, task_id=task.id, output=outputs)]


def spec_join_on(spec: TaskSpec, dynamic: tuple[str, ...]) -> tuple[str, ...]:
    """What a JOIN waits for: its `joinOn`, then the tasks a dynamic fork before it forked."""
    return (*spec.join_on, *dynamic)
