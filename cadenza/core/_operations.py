"""retry, restart, rerun and skip: operator controls as events, with Conductor's rules.

Design note
-----------
Each control arrives as a message in the run's own mailbox, so it never
interleaves with a completion in flight. `operation_events` checks it
against the state and returns the input events it amounts to, or raises
`InvalidOperation` saying why it makes no sense now (the run's actor
applies them and lets `decide` take it from there):

- `retry` (any terminal run, as Conductor's `retry`): the latest attempt of
  each task that ended FAILED, TIMED_OUT or CANCELED gets a new attempt
  (`retried_from` it, attempt + 1), in the old attempts' order; the old ones
  stay in the task list, marked retried. A CANCELED JOIN or DO_WHILE, and a
  FAILED JOIN over a FAILED permissive task, go back to IN_PROGRESS in place. The workflow timeout runs again from the
  retry (Conductor's lastRetriedTime). A run with nothing to retry is
  refused, unless it TIMED_OUT (its next task is scheduled).
- `restart` (any terminal run; a COMPLETED one only if `restartable`):
  every task is dropped from the run's task list (Conductor's
  `workflow.getTasks().clear()`) and the variables reset; with
  `latest=True` the run switches to the newest registered version. Same
  run id.
- `rerun` (a terminal run) from `ref`: that task's latest attempt and every
  task listed after it are dropped, so the walker schedules `ref` again
  in its place (Conductor's `rerunWF` resets it in place and removes the
  tasks of a greater `seq`); `input`, when given, replaces the workflow
  input. A task skipped ahead of time is listed first (seq 0): a rerun from
  an earlier task keeps it skipped, and a rerun from it drops every task,
  so the run starts over with it no longer skipped (Conductor would reset
  it alone, and never schedule the tasks before it again).

Dropped tasks stay in the journal (it is append-only) but leave the state;
new tasks never reuse their ids (`WorkflowState.dropped` counts them), so a
late result for a dropped attempt is refused as stale (`dropped_attempt`).
- `pause`, `resume` and `terminate` (a run not yet ended): terminate
  cancels every task in flight, then ends the run TERMINATED.
- `reset_callbacks` (a run not yet ended; Conductor's resetCallbacksForWorkflow,
  WorkflowExecutorOps.java:139-165): every worker task (not a system task)
  waiting in its queue for a later time — a `callbackAfterSeconds`, a retry
  delay — is ready now (`TaskRequeued` at once; the run's actor withdraws
  the enqueue the timer service holds).
- `skip` (a RUNNING run) of a task not yet scheduled (as Conductor: a task
  already scheduled cannot be skipped): a SKIPPED task takes its place and
  the walker goes past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cadenza._errors import InvalidOperation, NotFound, StaleTask
from cadenza.core._dynamic import spec_for
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskMarked,
    TaskRequeued,
    TaskScheduled,
    WorkflowPaused,
    WorkflowReopened,
    WorkflowResumed,
    WorkflowTerminated,
)
from cadenza.core._schedule import WAIT_GROUP, Environment, _schedule, task_id
from cadenza.core._state import SIGNALLABLE, TaskState, WorkflowState, apply
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.core._user_defined import awaiting, by_system_worker, to_system_worker
from cadenza.language._definition import CONDUCTOR_TYPES, WorkflowDef

REOPENING_OPS = frozenset({"retry", "restart", "rerun"})
OPERATIONS = frozenset({*REOPENING_OPS, "skip", "pause", "resume", "terminate", "reset_callbacks"})


@dataclass(frozen=True, slots=True)
class Operation:
    """An operator's control of one run, as data.

    `ref` names the task to rerun from (rerun) or to skip (skip); `input`
    replaces the workflow input (rerun); `definition` and `digest` name the
    newest version (restart with latest=True).
    """

    op: str
    reason: str = ""
    ref: str | None = None
    input: dict[str, Any] | None = None
    definition: WorkflowDef | None = None
    digest: str | None = None


def _refuse(state: WorkflowState, why: str) -> InvalidOperation:
    return InvalidOperation(why, run_id=state.id, state=state.status.value)


def operation_events(
    definition: WorkflowDef,
    state: WorkflowState,
    message: Operation,
    now: float,
    env: Environment | None = None,
) -> list[Event]:
    """The events operation `message` amounts to; raises `InvalidOperation`. See the note."""
    status = state.status
    if message.op in REOPENING_OPS and not status.terminal:
        raise _refuse(state, f"cannot {message.op} run {state.id}: it is still {status.value}")
    if message.op == "retry":
        return _retry(definition, state, env or Environment(), now)
    if message.op == "restart":
        target = message.definition or definition
        if status is WorkflowStatus.COMPLETED and not target.restartable:
            raise _refuse(state, f"run {state.id} is of a non-restartable workflow definition")
        return [
            WorkflowReopened(
                at=now,
                op="restart",
                superseded=[],
                dropped=[task.id for task in state.tasks],
                version=target.version if message.digest else None,
                digest=message.digest,
                variables=dict(target.variables),
            )
        ]
    if message.op == "rerun":
        ref = message.ref or ""
        positions = [i for i, task in enumerate(state.tasks) if task.ref == ref]
        if not positions:
            raise _refuse(state, f"run {state.id} has no task {ref!r} to rerun from")
        dropped = [task.id for task in state.tasks[positions[-1] :]]
        return [
            WorkflowReopened(
                at=now, op="rerun", superseded=[], dropped=dropped, input=message.input
            )
        ]
    if message.op == "skip":
        ref = message.ref or ""
        if status is not WorkflowStatus.RUNNING:
            raise _refuse(state, f"cannot skip a task of run {state.id}: it is {status.value}")
        try:
            spec = definition.spec(ref)
        except KeyError:
            raise _refuse(state, f"workflow {definition.name!r} has no task {ref!r}") from None
        if any(task.ref == ref for task in state.tasks):
            raise _refuse(state, f"task {ref!r} of run {state.id} was already scheduled")
        new_id = task_id(state)
        task_type = spec.name if spec.type == "SIMPLE" else spec.type
        return [
            TaskScheduled(at=now, task_id=new_id, ref=ref, name=spec.name, type=task_type,
                          input={}, group=WAIT_GROUP, ready_at=now),
            TaskMarked(at=now, task_id=new_id, status=TaskStatus.SKIPPED.value,
                       reason="skipped by an operator"),
        ]  # fmt: skip
    if status.terminal:
        raise _refuse(state, f"cannot {message.op} run {state.id}: it is {status.value}")
    if message.op == "pause":
        if status is WorkflowStatus.PAUSED:
            raise _refuse(state, f"run {state.id} is already paused")
        return [WorkflowPaused(at=now)]
    if message.op == "resume":
        if status is not WorkflowStatus.PAUSED:
            raise _refuse(state, f"run {state.id} is not paused")
        return [WorkflowResumed(at=now)]
    if message.op == "reset_callbacks":  # Conductor: ConflictException if terminal (above)
        return [
            TaskRequeued(at=now, task_id=task.id, ready_at=now)
            for task in state.tasks
            if task.status is TaskStatus.SCHEDULED
            and not task.retried
            and task.ready_at > now
            and task.type not in CONDUCTOR_TYPES  # systemTaskRegistry.isSystemTask
            and task.group != SYSTEM_GROUP  # a registered system task's (`_user_defined`)
        ]
    if message.op == "terminate":
        reason = message.reason or "terminated by an operator"
        cancels: list[Event] = [
            TaskCanceled(at=now, task_id=task.id, reason=reason)
            for task in state.tasks
            if not task.status.terminal
        ]
        return [*cancels, WorkflowTerminated(at=now, reason=reason)]
    raise _refuse(state, f"unknown operation {message.op!r}")


_RETRIED = frozenset(
    {TaskStatus.FAILED, TaskStatus.FAILED_WITH_TERMINAL_ERROR, TaskStatus.TIMED_OUT}
)
_RESUMED = frozenset({"JOIN", "DO_WHILE"})


def _retry(
    definition: WorkflowDef, state: WorkflowState, env: Environment, now: float
) -> list[Event]:
    """Conductor's WorkflowExecutorOps.retry: the last attempt of each ref that ended FAILED,
    TIMED_OUT or CANCELED gets a new attempt, in the old ones' order; a CANCELED JOIN or
    DO_WHILE goes back to IN_PROGRESS in place instead; a later success of a ref clears it."""
    retriable: dict[str, TaskState] = {}
    resumed: list[str] = []
    for task in state.tasks:
        if _joins_failed_permissive(definition, state, task):
            if not task.retried:  # WorkflowExecutorOps.java:461-470: back in place
                resumed.append(task.id)
        elif task.status in _RETRIED:
            retriable[task.ref] = task
        elif task.status is TaskStatus.CANCELED:
            if task.type in _RESUMED:
                if not task.retried:
                    resumed.append(task.id)
            else:
                retriable[task.ref] = task
        else:
            retriable.pop(task.ref, None)
    if not retriable and state.status is not WorkflowStatus.TIMED_OUT:
        raise _refuse(
            state,
            f"run {state.id} has no retryable tasks! Use restart if you want to attempt "
            "entire workflow execution again",
        )
    return _reopened(definition, state, env, now, resumed, list(retriable.values()))


def _joins_failed_permissive(
    definition: WorkflowDef, state: WorkflowState, task: TaskState
) -> bool:
    """A FAILED JOIN or EXCLUSIVE_JOIN over a permissive (not optional) task that FAILED:
    Conductor's retry puts it back to IN_PROGRESS in place (isJoinOnFailedPermissive,
    WorkflowExecutorOps.java:2588) instead of scheduling a new one."""
    if task.status is not TaskStatus.FAILED or task.type not in ("JOIN", "EXCLUSIVE_JOIN"):
        return False
    join_on = task.input.get("joinOn")
    if not isinstance(join_on, list):  # journaled before JOINs carried joinOn
        join_on = list(spec_for(definition, state, task.ref).join_on)
    for ref in join_on:
        joined = state.latest(str(ref))
        if joined is None or joined.status is not TaskStatus.FAILED:
            continue
        try:
            spec = spec_for(definition, state, joined.ref)
        except KeyError:
            continue
        if spec.permissive and not spec.optional:
            return True
    return False


def child_reopened_events(
    definition: WorkflowDef, state: WorkflowState, child_id: str, now: float, env: Environment
) -> list[Event]:
    """Child run `child_id` was retried, restarted or rerun: Conductor's updateAndPushParents
    (WorkflowExecutorOps.java:306), one level up. A finished run whose current SUB_WORKFLOW
    task ran that child reopens: the task goes back to IN_PROGRESS in place, so do its
    CANCELED JOINs and DO_WHILEs, and every other CANCELED task gets a new attempt. Nothing
    if the task was retried (a newer attempt runs another child), is optional, or the run
    has not ended; the reopened run tells its own parent in turn."""
    task = next(
        (t for t in reversed(state.tasks) if t.output.get("subWorkflowId") == child_id), None
    )
    if task is None or task.retried or not task.status.terminal or not state.status.terminal:
        return []
    if task.type != "SUB_WORKFLOW" or spec_for(definition, state, task.ref).optional:
        return []
    resumed = [task.id]
    retriable: dict[str, TaskState] = {}
    for other in state.tasks:
        if other.retried or other.id == task.id:
            continue
        if other.status is TaskStatus.CANCELED and other.type in _RESUMED:
            resumed.append(other.id)
        elif other.status is TaskStatus.CANCELED:
            retriable[other.ref] = other
        else:
            retriable.pop(other.ref, None)
    return _reopened(definition, state, env, now, resumed, list(retriable.values()))


def _reopened(
    definition: WorkflowDef,
    state: WorkflowState,
    env: Environment,
    now: float,
    resumed: list[str],
    retried: list[TaskState],
) -> list[Event]:
    """The run reopens: `resumed` tasks in place, each of `retried` with a new attempt."""
    reopened = WorkflowReopened(at=now, op="retry", superseded=[], resumed=resumed)
    scratch = apply(state.copy(), reopened)  # ids follow from the state: schedule one by one
    events: list[Event] = [reopened]
    for old in sorted(retried, key=lambda task: state.index[task.id]):
        spec = spec_for(definition, scratch, old.ref)
        scheduled = _schedule(
            definition, spec, scratch, env,
            attempt=old.attempt + 1, retried_from=old.id, ref=old.ref, iteration=old.iteration,
        )  # fmt: skip
        if by_system_worker(spec.type):  # an HTTP or a registered system task's: its group
            scheduled = to_system_worker(scheduled, spec, env)
        for event in scheduled:
            events.append(event)
            apply(scratch, event)
    return events


def dropped_attempt(state: WorkflowState, task_id: str) -> bool:
    """Whether `task_id` names an attempt of this run that a restart or rerun dropped."""
    run_id, _, number = task_id.rpartition("-")
    return (
        run_id == state.id
        and number.isdigit()
        and task_id not in state.index
        and int(number) < len(state.tasks) + state.dropped
    )


def current_task(
    state: WorkflowState, task_id: str, *, allow: Sequence[TaskStatus] = ()
) -> TaskState:
    """The live attempt `task_id` names, in one of the `allow`ed statuses (any if empty).

    Raises `NotFound` for an id this run never had, `StaleTask` for an attempt
    that a restart/rerun dropped, a retry superseded, or that already ended.
    """
    task = state.task(task_id)
    if task is None:
        if dropped_attempt(state, task_id):
            raise StaleTask(task_id, "the attempt was dropped by a restart or rerun")
        raise NotFound("task", task_id)
    if state.status.terminal:
        raise StaleTask(task_id, f"run {state.id} is {state.status.value}")
    if task.retried:
        raise StaleTask(task_id, f"attempt {task.attempt} was superseded by a retry")
    if task.status.terminal:
        raise StaleTask(task_id, f"the attempt already ended {task.status.value}")
    if allow and task.status not in allow:
        raise StaleTask(task_id, f"the attempt is {task.status.value}")
    return task


def signal_event(state: WorkflowState, ref: str, output: dict[str, Any], now: float) -> Event:
    """The completion of the WAIT or HUMAN task `ref` that waits for a signal (or of the
    system task `ref` that awaits its completion from outside: `_user_defined.awaiting`).

    Raises `InvalidOperation` if no such task waits (ended, superseded, or
    the run is over).
    """
    for task in reversed(state.tasks):
        if task.ref == ref and (task.type in SIGNALLABLE or awaiting(task)) and not task.retried:
            if task.status is TaskStatus.IN_PROGRESS and not state.status.terminal:
                return TaskCompleted(at=now, task_id=task.id, output=output)
            break
    raise _refuse(state, f"run {state.id} has no WAIT or HUMAN task {ref!r} waiting for a signal")
