"""`decide`: what a run should do next, as a pure function of its state.

Design note
-----------
`decide(definition, state, env) -> list[Event]` returns *decisions*
(`TaskScheduled`, `TaskCanceled`, `WorkflowCompleted`, `WorkflowFailed`)
and no I/O happens here. The run's actor applies them, asks again until the
answer is empty (a fixpoint), journals inputs and decisions in one record,
and only then acts on them (enqueue, arm timers, notify waiters).

Rules, after Conductor's DeciderService:
- a paused or finished run decides nothing;
- a failed or timed-out attempt is retried while `attempt < retryCount`
  (the task's override, else its TaskDef's), after the TaskDef's retry
  delay plus a jitter drawn deterministically from the attempt's id; a
  FAILED_WITH_TERMINAL_ERROR attempt is never retried; an exhausted task
  ends the run — TERMINATED if the task was CANCELED, TIMED_OUT if it timed
  out, else FAILED — with its `outputParameters` evaluated and the reason
  `Task <id> failed with status: <S> and reason: '<r>'`, after cancelling
  what is still in flight;
- a task's `startDelay` holds its first attempt back that many seconds;
- a WAIT task is IN_PROGRESS from the start with its deadline (`wake_at`)
  from `duration` or `until`, or none (it waits for a signal); a WAIT
  input that does not parse, or one past the run's timer quota
  (`Environment.max_timers_per_run`), fails FAILED_WITH_TERMINAL_ERROR at once;
- an exhausted `optional` task is marked COMPLETED_WITH_ERRORS and the run
  goes on; only SIMPLE and user-defined tasks are retried (system tasks fail at once);
- an exhausted `permissive` (not optional) task stays as it ended and the
  run goes on; the walker fails the run at its end (DeciderService.decide);
- otherwise the walker of `_flow.py` finds the next step in the nested
  definition (SWITCH, FORK_JOIN/JOIN, DO_WHILE, SUB_WORKFLOW...); when the
  whole definition is done and nothing is in flight the run completes with
  its `outputParameters` (the last task's output when empty);
- one call makes one *round* of steps, as one pass of Conductor's decide
  loop does (`_round.py`): a task that fails or ends in a round is retried
  or followed in the next one, so the task list is in Conductor's `seq`
  order;
- a run ending FAILED, TIMED_OUT or TERMINATED (by a task) whose definition
  names a `failureWorkflow` gets `conductor.failure_workflow: <id>` in its
  output (`_failure_run.py`).

Decisions are stamped with `state.updated_at`, the time of the event that
prompted them, and task ids are `<run id>-<n>` with n the number of tasks the
run scheduled before, so the same inputs always give the same decisions.
"""

from __future__ import annotations

import random

from cadenza._errors import InternalError
from cadenza.core._cases import failure_reason
from cadenza.core._dynamic import spec_for
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskMarked,
    TaskScheduled,
    WorkflowFailed,
)
from cadenza.core._failure_run import naming_failure_run
from cadenza.core._flow import Walker
from cadenza.core._round import Scratch
from cadenza.core._schedule import Environment, _current, _schedule, workflow_output
from cadenza.core._state import TaskState, WorkflowState, first_scheduled_at
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._terminate import MapperRefused, refused_round
from cadenza.core._user_defined import by_system_worker, to_system_worker
from cadenza.language._definition import WorkflowDef, user_defined
from cadenza.language._taskdef import TaskDef

# system tasks Conductor retries as a worker's task when their TaskDef is registered
# (DeciderService.retry; TaskType.BUILT_IN_TASKS are never retried); a SUB_WORKFLOW's retry
# is a new child, a WAIT's or HUMAN's waits out its retry delay SCHEDULED
_RETRIED_WITH_TASK_DEF = frozenset({"SUB_WORKFLOW", "HTTP", "WAIT", "HUMAN"})


def _retry_or_fail(
    definition: WorkflowDef, state: WorkflowState, failed: TaskState, env: Environment
) -> list[Event] | None:
    """A retry, the run's end, or None: an exhausted permissive task stays as it ended."""

    spec = spec_for(definition, state, failed.ref)
    task_def = env.task_def(spec)
    retries = spec.retry_count if spec.retry_count is not None else task_def.retry_count
    if spec.type in _RETRIED_WITH_TASK_DEF:  # DeciderService.retry: no TaskDef, no retry
        if spec.task_def is None and spec.name not in env.task_defs:
            retries = 0
    elif spec.type != "SIMPLE" and not user_defined(spec.type):
        retries = 0  # Conductor does not retry its other system tasks
    now = state.updated_at
    spent = _total_timeout_spent(state, failed, task_def, now)
    if spent is not None and failed.status.retriable and failed.attempt < retries:
        return _run_ends(definition, state, failed, spent)
    if failed.status.retriable and failed.attempt < retries:
        delay = task_def.retry_delay_for(failed.attempt)
        if task_def.backoff_jitter_ms:
            delay += random.Random(failed.id).randint(0, task_def.backoff_jitter_ms) / 1000
        # a timed-out attempt's worker died or hung, a lost one's crashed: the retry keeps its place
        place_at = (
            (failed.place_at if failed.place_at is not None else failed.ready_at)
            if failed.status is TaskStatus.TIMED_OUT or failed.lost
            else None
        )
        retry = _schedule(
            definition, spec, state, env,
            attempt=failed.attempt + 1, delay_s=delay, retried_from=failed.id,
            ref=failed.ref, iteration=failed.iteration, place_at=place_at,
        )  # fmt: skip
        return to_system_worker(retry, spec, env) if by_system_worker(spec.type) else retry
    if spec.optional and failed.status is not TaskStatus.CANCELED:
        reason = failed.reason or f"task {failed.ref!r} ended {failed.status.value}"
        return [
            TaskMarked(at=now, task_id=failed.id, status="COMPLETED_WITH_ERRORS", reason=reason)
        ]
    if spec.permissive and not spec.optional:
        return None  # DeciderService.retry: the run goes on, and fails at its end
    return _run_ends(definition, state, failed, None)


def _total_timeout_spent(
    state: WorkflowState, failed: TaskState, task_def: TaskDef, now: float
) -> str | None:
    """DeciderService.retry's guard (:609-629): the reason no retry follows once the task's
    `totalTimeoutSeconds` budget, from its first attempt's scheduling, is spent; else None."""
    if task_def.total_timeout_s <= 0:
        return None
    elapsed = now - first_scheduled_at(state, failed)
    if elapsed < task_def.total_timeout_s:
        return None
    return (
        f"Task {failed.id}/{failed.name} exceeded total timeout of {task_def.total_timeout_s:g} "
        f"seconds (elapsed {elapsed:g} seconds across all attempts). No further retries will "
        "be attempted."
    )


def _run_ends(
    definition: WorkflowDef, state: WorkflowState, failed: TaskState, reason: str | None
) -> list[Event]:
    """The run ends at `failed`, with `reason` or Conductor's `Task <id> failed with ...`."""
    now = state.updated_at
    # Conductor's DeciderService.retry: CANCELED ends the run TERMINATED, TIMED_OUT
    # TIMED_OUT, anything else FAILED; the output is evaluated before the run ends
    status = _RUN_STATUS_OF.get(failed.status, "FAILED")
    output = workflow_output(definition, state)
    decisions: list[Event] = [
        TaskCanceled(at=now, task_id=task.id, reason=f"run failed at task {failed.ref!r}")
        for task in _current(state)
        if not task.status.terminal
    ]
    reason = reason or failure_reason(failed.id, status, failed.reason)
    decisions.append(
        WorkflowFailed(at=now, reason=reason, status=status, task_id=failed.id, output=output)
    )
    return decisions


_RUN_STATUS_OF = {TaskStatus.CANCELED: "TERMINATED", TaskStatus.TIMED_OUT: "TIMED_OUT"}


def decide(definition: WorkflowDef, state: WorkflowState, env: Environment) -> list[Event]:
    """The decisions of the run's next round (`_round.py`), [] when there are none.

    A round that wants a JavaScript result the environment's `Evaluations`
    book lacks decides nothing (the book records what it wants); once it is
    made, the same state decides the whole round again.
    """
    if state.status is not WorkflowStatus.RUNNING or not state.started:
        return []
    scratch: Scratch | None = None
    fresh: dict[str, int] = {}  # task id -> the rank of the step that ended it, this round
    decisions: list[Event] = []
    for _ in range(ROUND_STEPS_MAX):
        now = state if scratch is None else scratch.state
        rank: int | None = None  # a retry's or an optional task's mark is followed this round
        try:
            step = _retries(definition, now, env, fresh)
            if step is None:
                walker = Walker(definition, now, env, fresh)
                step = naming_failure_run(definition, now, walker.next_step())
                if walker.pending:
                    return []
                rank = walker.rank
        except MapperRefused as refused:  # the round is discarded (`_terminate.py`)
            return naming_failure_run(
                definition, state, refused_round(definition, state, refused.reason)
            )
        if not step:
            return decisions
        if scratch is None:
            scratch = Scratch(state)
        for event in step:
            scratch.apply(event)
            decisions.append(event)
            if rank is not None and isinstance(event, _ENDING):
                fresh.setdefault(event.task_id, rank)
        if scratch.state.status is not WorkflowStatus.RUNNING:
            return decisions
    raise InternalError(f"run {state.id}: a decide round took {ROUND_STEPS_MAX} steps")


def settles(decisions: list[Event]) -> bool:
    """Whether the round after `decisions` (a non-empty `decide` round, applied) decides nothing.

    True when every decision only scheduled a task: no task ended in the round, so
    nothing was held back for the next round (`fresh` stays empty), and the walk
    that ended the round, which found no step, saw the very state the next round
    starts from. The run's actor then skips that confirming walk.
    """
    return all(type(event) is TaskScheduled for event in decisions)


ROUND_STEPS_MAX = 100_000  # a round longer than this is a bug, not a workflow
_ENDING = (TaskCompleted, TaskFailed, TaskMarked, TaskCanceled)


def _retries(
    definition: WorkflowDef, state: WorkflowState, env: Environment, fresh: dict[str, int]
) -> list[Event] | None:
    """A retry of a task that failed before this round, or the run's end it leads to."""
    for task in _current(state):
        if task.status.terminal and not task.status.successful and task.id not in fresh:
            decisions = _retry_or_fail(definition, state, task, env)
            if decisions is not None:
                return naming_failure_run(definition, state, decisions)
    return None
