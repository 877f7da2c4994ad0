"""Deadlines of a run, and what happens when they pass: a pure function of state.

Design note
-----------
Every time-based rule of a run is a *deadline* derived from its state:

- a WAIT task's `wake_at` — it completes;
- a task's `timeoutSeconds`, counted from its start — per the TaskDef's
  `timeoutPolicy`: RETRY times the attempt out (retried like a failure),
  TIME_OUT_WF times out the task and the run, ALERT_ONLY only reports;
- a task's `pollTimeoutSeconds`, counted from when it became ready, while
  no worker has taken it — the attempt times out (and is retried);
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

from cadenza.core._events import Event, TaskCanceled, TaskCompleted, TaskFailed, WorkflowFailed
from cadenza.core._failure_run import naming_failure_run
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.language._definition import WorkflowDef
from cadenza.language._taskdef import TimeoutPolicy


@dataclass(frozen=True, slots=True)
class Deadline:
    when: float
    kind: str  # "wait", "timeout", "poll_timeout", "workflow_timeout"
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
        if task.type == "WAIT":
            if task.wake_at is not None and task.status is TaskStatus.IN_PROGRESS:
                found.append(Deadline(task.wake_at, "wait", task.id))
            continue
        try:
            spec = definition.spec(task.ref)
        except KeyError:
            continue
        task_def = env.task_def(spec)
        if task_def.timeout_s > 0 and task.started_at is not None:
            # from the first start, through requeues after crashes (Conductor's rule)
            alert = task_def.timeout_policy is TimeoutPolicy.ALERT_ONLY
            found.append(Deadline(task.started_at + task_def.timeout_s, "timeout", task.id, alert))
        if task_def.poll_timeout_s and task.status is TaskStatus.SCHEDULED:
            found.append(Deadline(task.ready_at + task_def.poll_timeout_s, "poll_timeout", task.id))
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
        elif deadline.kind in ("timeout", "poll_timeout") and deadline.task_id is not None:
            task = state.task(deadline.task_id)
            assert task is not None
            spec = definition.spec(task.ref)
            task_def = env.task_def(spec)
            limit = task_def.timeout_s if deadline.kind == "timeout" else task_def.poll_timeout_s
            what = "timeoutSeconds" if deadline.kind == "timeout" else "pollTimeoutSeconds"
            reason = f"task {task.ref!r} timed out: {what}={limit:g} passed"
            events.append(TaskFailed(at=now, task_id=task.id, reason=reason, status="TIMED_OUT"))
            if deadline.kind == "timeout" and task_def.timeout_policy is TimeoutPolicy.TIME_OUT_WF:
                events.extend(_time_out_run(state, now, reason, task.id, skip=task.id))
                return naming_failure_run(definition, state, events), alerts
        elif deadline.kind == "workflow_timeout":
            reason = f"workflow {definition.name!r} timed out: timeoutSeconds={definition.timeout_s:g} passed"
            events.extend(_time_out_run(state, now, reason, None))
            return naming_failure_run(definition, state, events), alerts
    return events, alerts


def _time_out_run(
    state: WorkflowState, now: float, reason: str, task_id: str | None, *, skip: str | None = None
) -> list[Event]:
    cancels: list[Event] = [
        TaskCanceled(at=now, task_id=task.id, reason=reason)
        for task in state.tasks
        if not task.retried and not task.status.terminal and task.id != skip
    ]
    return [*cancels, WorkflowFailed(at=now, reason=reason, status="TIMED_OUT", task_id=task_id)]
