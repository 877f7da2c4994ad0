"""Attempts a run puts back, or ends: after a crash, and when a shared queue's lease lapsed.

After a crash or a restart (`Recover`), a run puts back in its queues the
attempts this process's own workers were running (`after_the_stop`): a local
slot's, which stopped with the process, and a pulled one whose shared-queue
row no longer holds it. An attempt an external worker polled stays in
progress: that worker did not stop with the process, and its
result or heartbeat is still taken. It keeps its hand-out under a lease of
responseTimeoutSeconds from the recovery, so a worker that died too is
timed out and its attempt retried as if the process had not stopped. This
is Conductor's rule (a polled task's queue message stays unacknowledged
across a server restart, and only `DeciderService.isResponseTimedOut` ends
it) and the PostgreSQL journal's (the lease is the queue row's). Before, a
plain restart handed every such task to a second worker while the first
still ran it. (The lease counts from the recovery, not from the last
heartbeat: heartbeats are not journaled, so that is the earliest instant no
heartbeat is known to have come after.)

On a shared PostgreSQL journal the lease of a task handed to an external
worker lives in the queue's row (`cadenza.persistence._postgres_queue`), not
in this process's ledger. The process that finds it ran out marks the row
lapsed and tells the run's owner `LeaseLapsed` through the inbox, in one
transaction. The owner then:

- times the attempt out (TIMED_OUT, retried per its policy: a new attempt
  with a new id, so the old worker's late result is stale) if it is in
  progress;
- queues it again at its place if it is still SCHEDULED (the claimer died
  before the start reached the run);
- does nothing if the attempt already ended or was retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cadenza.core._events import Event, TaskFailed, TaskRequeued
from cadenza.core._state import IN_PROGRESS_AT_ONCE, TaskState, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._user_defined import awaiting

if TYPE_CHECKING:
    from cadenza.engine.shared._ownership import SharedDispatch


LOCAL_WORKER_IDS = ("local:", "pull:")  # a local slot's (`_slots`), a puller's (`_pullers`)


def after_the_stop(
    state: WorkflowState, now: float, shared: SharedDispatch | None
) -> tuple[list[TaskRequeued], list[TaskState]]:
    """The attempts in progress when the process stopped, in one walk: an event per attempt
    this process's own workers were running, at its original place (it keeps its
    `ready_at`); and the attempts an external worker held, which stay in progress under a
    lease again (module note). Neither holds one that runs at once, nor a system task's that
    awaits its completion, nor one whose shared-queue row a worker claimed before this
    process recovered the run (`SharedDispatch.holds`: the claim stands)."""
    requeued: list[TaskRequeued] = []
    relet: list[TaskState] = []
    for task in _held_at_the_stop(state, shared):
        if _by_this_process(task):
            requeued.append(TaskRequeued(at=now, task_id=task.id, ready_at=min(task.ready_at, now)))
        else:
            relet.append(task)
    return requeued, relet


def _held_at_the_stop(state: WorkflowState, shared: SharedDispatch | None) -> list[TaskState]:
    return [
        task
        for task in state.tasks
        if task.status is TaskStatus.IN_PROGRESS
        and not task.retried
        and task.type not in IN_PROGRESS_AT_ONCE
        and not awaiting(task)
        and (shared is None or not shared.holds(task.id))
    ]


def _by_this_process(task: TaskState) -> bool:
    return task.worker_id is not None and task.worker_id.startswith(LOCAL_WORKER_IDS)


LAPSED = "lease expired on the shared queue: no result or heartbeat within responseTimeoutSeconds"


def lapsed_event(state: WorkflowState, task_id: str, now: float) -> Event | None:
    """The event a lapsed lease on `task_id` calls for (None: nothing; see the module note)."""
    task = state.task(task_id)
    if task is None or task.retried or state.status.terminal:
        return None
    if task.status is TaskStatus.IN_PROGRESS:
        return TaskFailed(at=now, task_id=task.id, reason=LAPSED, status="TIMED_OUT")
    if task.status is TaskStatus.SCHEDULED:
        return TaskRequeued(at=now, task_id=task.id, ready_at=min(task.ready_at, now))
    return None
