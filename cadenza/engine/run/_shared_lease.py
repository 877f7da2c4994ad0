"""What a run does when a shared queue's lease on one of its tasks ran out.

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

from cadenza.core._events import Event, TaskFailed, TaskRequeued
from cadenza.core._state import WorkflowState
from cadenza.core._status import TaskStatus

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
