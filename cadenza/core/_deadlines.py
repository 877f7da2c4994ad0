"""Deadlines of a run, and what happens when they pass: a pure function of state.

Design note
-----------
Every time-based rule of a run is a *deadline* derived from its state:

- a WAIT task's `wake_at` — it completes;
- a task's `timeoutSeconds`, counted from its start (a WAIT or HUMAN task
  with a TaskDef included, as DeciderService checks every pending task that
  has one), its `pollTimeoutSeconds`, counted from when it became ready
  while no worker has taken it, and its `totalTimeoutSeconds`, counted from
  when its first attempt was scheduled (a budget over all attempts and
  their retry delays) — each per the TaskDef's `timeoutPolicy`
  (DeciderService.timeoutTaskWithTimeoutPolicy): RETRY times the attempt out
  (retried like a failure, unless the total budget is spent), TIME_OUT_WF
  times out the task and the run, ALERT_ONLY only reports;
- a retried WAIT or HUMAN task waiting out its retry delay (SCHEDULED) —
  it starts (IN_PROGRESS), as Conductor's system task executor starts it;
- the workflow's `timeoutSeconds`, counted from its start — TIME_OUT_WF
  times the run out, ALERT_ONLY (Conductor's default) only reports.

The run's actor keeps one timer armed for `next_wake` and, when it fires,
applies `expire(..., now)`. Because both are recomputed from the state,
a lost, duplicated or stale wake-up cannot make a deadline fire early or
twice, and a deadline that passed during an outage fires at recovery.
(Lease expiry — `responseTimeoutSeconds` — belongs to the worker groups.)
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza._errors import InternalError
from cadenza.core._dynamic import spec_for
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    WorkflowFailed,
)
from cadenza.core._failure_run import naming_failure_run
from cadenza.core._schedule import Environment
from cadenza.core._state import SIGNALLABLE, TaskState, WorkflowState, first_scheduled_at
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.language._definition import WorkflowDef
from cadenza.language._taskdef import TaskDef, TimeoutPolicy


@dataclass(frozen=True, slots=True)
class Deadline:
    when: float
    kind: str  # "wait", "start", "timeout", "poll_timeout", "total_timeout", "workflow_timeout"
    task_id: str | None
    alert_only: bool = False


def deadlines(definition: WorkflowDef, state: WorkflowState, env: Environment) -> list[Deadline]:
    """Every pending deadline of the run, earliest first."""
    if state.status.terminal:
        return []
    found: list[Deadline] = []
    for task in state.tasks:
        if task.retried or task.status.terminal:
            continue
        if task.type in SIGNALLABLE and task.status is TaskStatus.SCHEDULED:
            found.append(Deadline(task.ready_at, "start", task.id))
        wakes = task.type == "WAIT" and task.wake_at is not None
        if wakes and task.wake_at is not None and task.status is TaskStatus.IN_PROGRESS:
            found.append(Deadline(task.wake_at, "wait", task.id))
        try:
            spec = spec_for(definition, state, task.ref)
        except KeyError:
            continue
        task_def = env.task_def(spec)
        alert = task_def.timeout_policy is TimeoutPolicy.ALERT_ONLY
        if task_def.total_timeout_s > 0:
            first = first_scheduled_at(state, task)
            found.append(
                Deadline(first + task_def.total_timeout_s, "total_timeout", task.id, alert)
            )
        if task_def.timeout_s > 0 and task.started_at is not None:
            # from the first start, through requeues after crashes (Conductor's rule)
            found.append(Deadline(task.started_at + task_def.timeout_s, "timeout", task.id, alert))
        if task_def.poll_timeout_s and task.status is TaskStatus.SCHEDULED:
            found.append(
                Deadline(task.ready_at + task_def.poll_timeout_s, "poll_timeout", task.id, alert)
            )
    if definition.timeout_s > 0 and state.status is WorkflowStatus.RUNNING:
        alert = definition.timeout_policy is TimeoutPolicy.ALERT_ONLY
        start = state.created_at if state.retried_at is None else state.retried_at
        found.append(Deadline(start + definition.timeout_s, "workflow_timeout", None, alert))
    found.sort(key=lambda d: d.when)
    return found


def next_wake(
    definition: WorkflowDef, state: WorkflowState, env: Environment, now: float
) -> float | None:
    """When the run's actor must look again: its earliest deadline still to act on.

    Alert-only deadlines count only while in the future (they are reported
    once, when they pass).
    """
    for deadline in deadlines(definition, state, env):
        if not deadline.alert_only or deadline.when > now:
            return deadline.when
    return None


def expire(
    definition: WorkflowDef, state: WorkflowState, env: Environment, now: float, *, since: float
) -> tuple[list[Event], list[Deadline]]:
    """Events for the deadlines passed by `now`, and the alerts passed since `since`."""
    events: list[Event] = []
    alerts: list[Deadline] = []
    for deadline in deadlines(definition, state, env):
        if deadline.when > now:
            break
        if deadline.alert_only:
            if deadline.when > since:
                alerts.append(deadline)
            continue
        if deadline.kind == "wait" and deadline.task_id is not None:
            events.append(TaskCompleted(at=now, task_id=deadline.task_id, output={}))
        elif deadline.kind == "start" and deadline.task_id is not None:
            events.append(TaskStarted(at=now, task_id=deadline.task_id))
        elif deadline.kind in _TASK_TIMEOUTS and deadline.task_id is not None:
            task = state.task(deadline.task_id)
            if task is None:
                raise InternalError(f"run {state.id}: a deadline of unknown task")
            task_def = env.task_def(spec_for(definition, state, task.ref))
            reason = _timeout_reason(deadline.kind, task, task_def, now, state)
            events.append(TaskFailed(at=now, task_id=task.id, reason=reason, status="TIMED_OUT"))
            if task_def.timeout_policy is TimeoutPolicy.TIME_OUT_WF:
                events.extend(_time_out_run(state, now, reason, task.id, skip=task.id))
                return naming_failure_run(definition, state, events), alerts
        elif deadline.kind == "workflow_timeout":
            reason = f"workflow {definition.name!r} timed out: timeoutSeconds={definition.timeout_s:g} passed"
            events.extend(_time_out_run(state, now, reason, None))
            return naming_failure_run(definition, state, events), alerts
    return events, alerts


_TASK_TIMEOUTS = frozenset({"timeout", "poll_timeout", "total_timeout"})


def _timeout_reason(
    kind: str, task: TaskState, task_def: TaskDef, now: float, state: WorkflowState
) -> str:
    """Why a task timed out, worded as DeciderService's checks word it."""
    policy = task_def.timeout_policy.value
    if kind == "total_timeout":  # checkTotalTimeout
        elapsed = now - first_scheduled_at(state, task)
        return (
            f"Task {task.name}/{task.id} exceeded total timeout of {task_def.total_timeout_s:g} "
            f"seconds (elapsed {elapsed:g} seconds across all attempts including retry "
            f"delays). Timeout policy: {policy}"
        )
    if kind == "poll_timeout":  # checkTaskPollTimeout
        elapsed = now - task.ready_at
        return (
            f"Task poll timed out after {elapsed:g} seconds. Poll timeout configured as "
            f"{task_def.poll_timeout_s:g} seconds. Timeout policy configured to {policy}"
        )
    elapsed = now - (task.started_at or now)  # checkTaskTimeout
    return (
        f"Task timed out after {elapsed:g} seconds. Timeout configured as "
        f"{task_def.timeout_s:g} seconds. Timeout policy configured to {policy}"
    )


def _time_out_run(
    state: WorkflowState, now: float, reason: str, task_id: str | None, *, skip: str | None = None
) -> list[Event]:
    cancels: list[Event] = [
        TaskCanceled(at=now, task_id=task.id, reason=reason)
        for task in state.tasks
        if not task.retried and not task.status.terminal and task.id != skip
    ]
    return [*cancels, WorkflowFailed(at=now, reason=reason, status="TIMED_OUT", task_id=task_id)]
