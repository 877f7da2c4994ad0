"""What a durable batch of a run's events means for the rest of the engine.

`acts` reads the events a run's actor just made durable and returns the
effects (`_effects`) they call for — tasks to enqueue or withdraw, slots
and leases to release, children to start, the end to announce — which the
actor then executes in one place (`RunActor.act`).
"""

from __future__ import annotations

from cadenza._log import get_logger
from cadenza.core._events import (
    TERMINAL_EVENTS,
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskRequeued,
    TaskScheduled,
    WorkflowReopened,
)
from cadenza.core._state import IN_PROGRESS_AT_ONCE, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._user_defined import async_complete, awaiting
from cadenza.engine.run._effects import Effect, Enqueue, Finished, Hold, Release, Withdraw
from cadenza.engine.run._links import STARTS_RUNS, children_to_start, end_effects
from cadenza.engine.run._services import queued
from cadenza.language._definition import WorkflowDef

log = get_logger("cadenza.engine")


def acts(
    definition: WorkflowDef | None, state: WorkflowState, events: list[Event], *, recover: bool
) -> list[Effect]:
    """The effects of the batch's `events` on the rest of the engine, in order."""
    effects: list[Effect] = []
    seen: set[str] = set()
    for event in events:
        if isinstance(event, (TaskScheduled, TaskRequeued)):
            seen.add(event.task_id)
        elif isinstance(event, WorkflowReopened) and event.dropped:
            seen.difference_update(event.dropped)  # out of the state: nothing to enqueue
        elif isinstance(event, TaskCanceled):
            task = state.task(event.task_id)
            if task is not None:
                delayed = task.type not in IN_PROGRESS_AT_ONCE and task.ready_at > event.at
                effects.append(Withdraw(task.group, task.id, delayed, task.ready_at))
        if isinstance(event, (TaskCompleted, TaskFailed, TaskCanceled, TaskRequeued)):
            # every way an attempt ends or goes back frees what it held (slot, lease,
            # breaker verdict) — timeouts and cancellations included; release is idempotent
            failed = (
                None
                if isinstance(event, (TaskCanceled, TaskRequeued))
                else isinstance(event, TaskFailed)
            )
            effects.append(Release(event.task_id, failed))
    if recover:
        seen.update(t.id for t in state.tasks if t.status is TaskStatus.SCHEDULED)
        seen.update(t.id for t in state.tasks if t.type in STARTS_RUNS and not t.retried)
        # a system task awaiting its completion still counts against its concurrentExecLimit:
        # the ledger is memory, so a restart or a takeover counts it again
        effects.extend(
            Hold(queued(state, t, async_complete=True)) for t in state.tasks if awaiting(t)
        )
    effects.extend(children_to_start(definition, state, seen, events))
    for task_id in sorted(seen, key=lambda tid: state.index[tid]):
        task = state.tasks[state.index[task_id]]
        if task.status is TaskStatus.SCHEDULED and task.type not in IN_PROGRESS_AT_ONCE:
            awaits = async_complete(definition, state, task)  # a system task's asyncComplete
            effects.append(Enqueue(task.group, queued(state, task, async_complete=awaits)))
    if state.status.terminal and any(isinstance(e, TERMINAL_EVENTS) for e in events):
        effects.append(Finished(state))
        effects.extend(end_effects(definition, state))
        log.info("run.finished", run_id=state.id, workflow=state.name, status=state.status.value)
    return effects
