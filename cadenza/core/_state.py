"""A run's state, and `apply`: the fold of its events.

Design note
-----------
`apply(state, event) -> state` is the only code that changes a run's state,
live or in recovery, so "replaying the journal gives the live state" holds
by construction. It is deterministic (everything it records comes from the
event, `at` included) and total over the events a run's actor accepts; an
event that cannot follow the state (a completion for an unknown task) is an
`InternalError`, since the actor validated it before journaling.

For speed `apply` updates `state` in place and returns it; callers that
need the old state keep a copy (`WorkflowState.copy`).

A terminal run never changes again, except by `WorkflowReopened` (retry,
restart, rerun), the one event allowed after a terminal one. Completing a
SET_VARIABLE task merges its input into `variables`.

`tasks` is in Conductor's `seq` order: the order tasks were scheduled in
(`decide` makes them in Conductor's order, `_round.py`), except that a task
an operator skips ahead of time goes to the front (`_to_the_front`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from cadenza._errors import InternalError, invariant
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskMarked,
    TaskRequeued,
    TaskScheduled,
    TaskStarted,
    TaskUpdated,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowReopened,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowTerminated,
    event_from_json,
)
from cadenza.core._status import TaskStatus, WorkflowStatus


@dataclass(slots=True)
class TaskState:
    """One attempt of one task of a run."""

    id: str
    ref: str
    name: str
    type: str
    status: TaskStatus
    attempt: int
    input: dict[str, Any]
    group: str
    scheduled_at: float
    ready_at: float
    output: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float | None = None
    worker_id: str | None = None
    retried: bool = False  # superseded by a later attempt
    retried_from: str | None = None
    iteration: int = 0
    poll_count: int = 0
    wake_at: float | None = None  # a WAIT task's deadline
    place_at: float | None = None  # its place in the queue, inherited from a timed-out attempt
    lost: bool = False  # ended because its worker died holding it
    error: str | None = None  # a local worker's exception, its traceback formatted

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view; shares nested values with the state (encode it, don't keep it)."""
        return dict(zip(_TASK_FIELDS, _task_values(self), strict=True))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskState:
        task = cls(**data)
        task.status = TaskStatus(task.status)
        return task


@dataclass(slots=True)
class WorkflowState:
    """Everything known about a run, as of its last applied event."""

    id: str
    name: str = ""
    version: int = 0
    digest: str = ""
    status: WorkflowStatus = WorkflowStatus.RUNNING
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    priority: int = 0
    correlation_id: str | None = None
    key: str | None = None
    parent_id: str | None = None
    task_to_group: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    failed_task_id: str | None = None
    retried_at: float | None = None  # Conductor's lastRetriedTime: the workflow timeout's start
    dropped: int = 0  # tasks a restart or rerun took out of `tasks` (ids are never reused)
    tasks: list[TaskState] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)  # task id -> position in tasks
    events: int = 0  # how many events have been applied
    trace: dict[str, str] | None = None  # the W3C trace context the run was started in

    @property
    def started(self) -> bool:
        return self.events > 0

    def task(self, task_id: str) -> TaskState | None:
        position = self.index.get(task_id)
        return None if position is None else self.tasks[position]

    def latest(self, ref: str) -> TaskState | None:
        """The newest attempt of the task with reference `ref`."""
        for task in reversed(self.tasks):
            if task.ref == ref:
                return task
        return None

    def copy(self) -> WorkflowState:
        return copy.deepcopy(self)

    def to_json(self) -> dict[str, Any]:
        data = {
            name: getattr(self, name) for name in self.__slots__ if name not in ("tasks", "index")
        }
        data["tasks"] = [task.to_json() for task in self.tasks]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowState:
        fields_ = dict(data)
        tasks = [TaskState.from_json(task) for task in fields_.pop("tasks")]
        state = cls(**fields_)
        state.status = WorkflowStatus(state.status)
        state.tasks = tasks
        state.index = {task.id: position for position, task in enumerate(tasks)}
        return state


IN_PROGRESS_AT_ONCE = frozenset(
    {"WAIT", "HUMAN", "JOIN", "EXCLUSIVE_JOIN", "DO_WHILE", "SUB_WORKFLOW", "START_WORKFLOW"}
)
"""System tasks no worker polls: in progress from the start until the engine or a signal ends them."""
SIGNALLABLE = frozenset({"WAIT", "HUMAN"})  # what `signal` may complete
"""A retried WAIT or HUMAN waiting out its retry delay is SCHEDULED until then (then a
`TaskStarted` from `_deadlines` starts it), as Conductor's system task executor starts it."""

_TASK_FIELDS = tuple(f.name for f in fields(TaskState))
_task_values = attrgetter(*_TASK_FIELDS)


def first_scheduled_at(state: WorkflowState, task: TaskState) -> float:
    """When the first attempt of `task` was scheduled (Conductor's firstScheduledTime,
    carried from attempt to attempt): the start of its `totalTimeoutSeconds` budget."""
    first = task
    while first.retried_from is not None:
        earlier = state.task(first.retried_from)
        if earlier is None:
            break
        first = earlier
    return first.scheduled_at


def _task(state: WorkflowState, task_id: str, event: Event) -> TaskState:
    task = state.task(task_id)
    if task is None:  # (not `invariant`: its message would be formatted for every event)
        raise InternalError(f"run {state.id}: {event.kind} for unknown task {task_id}")
    return task


def _to_the_front(state: WorkflowState, task: TaskState) -> None:
    """A task an operator skipped goes before every scheduled one, after those skipped before:
    Conductor creates it without a `seq` (0; WorkflowExecutorOps.skipTaskFromWorkflow) and
    reads a run's tasks sorted by `seq` (RedisExecutionDAO.getTasksForWorkflow)."""
    position = state.index[task.id]
    front = 0
    while front < position and state.tasks[front].status is TaskStatus.SKIPPED:
        front += 1
    if front < position:
        state.tasks.insert(front, state.tasks.pop(position))
        state.index = {each.id: place for place, each in enumerate(state.tasks)}


def apply(state: WorkflowState, event: Event) -> WorkflowState:
    """Fold one event into `state` (in place) and return it; see the module note."""
    if state.status.terminal and not isinstance(event, WorkflowReopened):
        raise InternalError(  # (not `invariant`: its message would be formatted every time)
            f"run {state.id} is {state.status}; {event.kind} cannot follow a terminal state"
        )
    state.events += 1
    state.updated_at = event.at
    match event:
        case WorkflowStarted():
            invariant(state.events == 1, f"run {state.id} started twice")
            state.name = event.name
            state.version = event.version
            state.digest = event.digest
            state.input = event.input
            state.priority = event.priority
            state.correlation_id = event.correlation_id
            state.key = event.key
            state.parent_id = event.parent_id
            state.task_to_group = dict(event.task_to_group or {})
            state.variables = dict(event.variables or {})
            state.created_at = event.at
            state.status = WorkflowStatus.RUNNING
            state.trace = event.trace
        case TaskScheduled():
            if event.task_id in state.index:
                raise InternalError(f"task {event.task_id} scheduled twice")
            if event.retried_from is not None:
                _task(state, event.retried_from, event).retried = True
            state.index[event.task_id] = len(state.tasks)
            state.tasks.append(
                TaskState(
                    id=event.task_id,
                    ref=event.ref,
                    name=event.name,
                    type=event.type,
                    status=TaskStatus.SCHEDULED,
                    attempt=event.attempt,
                    input=event.input,
                    group=event.group,
                    scheduled_at=event.at,
                    ready_at=event.ready_at,
                    retried_from=event.retried_from,
                    iteration=event.iteration,
                    wake_at=event.wake_at,
                    place_at=event.place_at,
                )
            )
            if event.sub_workflow_id is not None:
                state.tasks[-1].output = {"subWorkflowId": event.sub_workflow_id}
            delayed = event.type in SIGNALLABLE and event.ready_at > event.at
            if event.type in IN_PROGRESS_AT_ONCE and not delayed:  # a WAIT is in progress at once
                task = state.tasks[-1]
                task.status = TaskStatus.IN_PROGRESS
                task.started_at = event.at
        case TaskStarted():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus.IN_PROGRESS
            if task.started_at is None:  # its first start: timeoutSeconds runs from here
                task.started_at = event.at
            task.updated_at = event.at
            task.worker_id = event.worker_id
            task.poll_count += 1
        case TaskCompleted():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus.COMPLETED
            task.output = event.output
            task.ended_at = event.at
            if task.started_at is None:
                task.started_at = event.at
            if task.type == "SET_VARIABLE":
                state.variables = {**state.variables, **task.input}
        case TaskFailed():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus(event.status)
            task.reason = event.reason
            task.lost = event.lost
            task.error = event.error
            if event.output is not None:
                task.output = event.output
            task.ended_at = event.at
        case TaskUpdated():
            task = _task(state, event.task_id, event)
            task.output = {**task.output, **event.output}
            task.updated_at = event.at
            if event.group is not None:
                task.group = event.group
            if task.type == "DO_WHILE" and isinstance(event.output.get("iteration"), int):
                task.iteration = event.output["iteration"]  # DoWhile.java: setIteration
        case TaskRequeued():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus.SCHEDULED
            task.ready_at = event.ready_at
            task.worker_id = None
            if event.output is not None:
                task.output = {**task.output, **event.output}
        case TaskCanceled():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus.CANCELED
            task.reason = event.reason or task.reason
            task.ended_at = event.at
        case WorkflowCompleted():
            state.status = WorkflowStatus.COMPLETED
            state.output = event.output
            state.reason = event.reason
            state.ended_at = event.at
        case WorkflowFailed():
            state.status = WorkflowStatus(event.status)
            state.reason = event.reason
            state.failed_task_id = event.task_id
            if event.output is not None:
                state.output = event.output
            state.ended_at = event.at
        case WorkflowTerminated():
            state.status = WorkflowStatus.TERMINATED
            state.reason = event.reason
            state.ended_at = event.at
        case TaskMarked():
            task = _task(state, event.task_id, event)
            task.status = TaskStatus(event.status)
            task.reason = event.reason or task.reason
            task.ended_at = event.at
            if task.started_at is None:
                task.started_at = event.at
            if task.status is TaskStatus.SKIPPED:
                _to_the_front(state, task)
        case WorkflowReopened():
            invariant(state.status.terminal, f"run {state.id} reopened while {state.status}")
            for task_id in event.superseded:
                _task(state, task_id, event).retried = True
            for task_id in event.resumed or ():  # a JOIN, DO_WHILE or SUB_WORKFLOW, in place
                task = _task(state, task_id, event)
                task.status = TaskStatus.IN_PROGRESS
                task.reason = None
                task.ended_at = None
            if event.dropped:  # out of the state; the journal keeps them
                gone = {_task(state, task_id, event).id for task_id in event.dropped}
                state.tasks = [task for task in state.tasks if task.id not in gone]
                state.index = {task.id: position for position, task in enumerate(state.tasks)}
                state.dropped += len(gone)
            if event.op != "rerun":  # Conductor's rerun keeps the timeout's start
                state.retried_at = event.at
            state.status = WorkflowStatus.RUNNING
            state.reason = None
            state.output = {}
            state.ended_at = None
            state.failed_task_id = None
            if event.input is not None:
                state.input = event.input
            if event.digest is not None and event.version is not None:
                state.digest = event.digest
                state.version = event.version
            if event.variables is not None:
                state.variables = dict(event.variables)
        case WorkflowPaused():
            state.status = WorkflowStatus.PAUSED
        case WorkflowResumed():
            state.status = WorkflowStatus.RUNNING
        case _:
            invariant(False, f"run {state.id}: no rule to apply {event!r}")
    return state


def fold(run_id: str, events: list[Event], state: WorkflowState | None = None) -> WorkflowState:
    """Apply `events` in order, starting from `state` or an empty run."""
    result = state if state is not None else WorkflowState(id=run_id)
    for event in events:
        apply(result, event)
    return result


def restore(
    run_id: str, snapshot: Mapping[str, Any] | None, records: Iterable[Mapping[str, Any]]
) -> WorkflowState:
    """A run's state from its latest snapshot (if any) and the journaled events after it.

    Raises `JournalCorrupted` for an event that does not decode.
    """
    state = WorkflowState.from_json(dict(snapshot)) if snapshot else WorkflowState(id=run_id)
    return fold(run_id, [event_from_json(dict(data), stream_id=run_id) for data in records], state)
