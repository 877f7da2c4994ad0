"""The events of a workflow run: what is journaled and folded by `apply`.

Design note
-----------
Two kinds of event share one journal record format:
- *inputs* arrive from outside the run's actor: `WorkflowStarted`,
  `TaskStarted`, `TaskCompleted`, `TaskFailed`, `TaskUpdated`,
  `TaskRequeued`, `WorkflowPaused`, `WorkflowResumed`, `WorkflowTerminated`;
- *decisions* are what `decide` concluded from the state: `TaskScheduled`,
  `WorkflowCompleted`, `WorkflowFailed`, `TaskCanceled`, `TaskMarked` (a
  task's status set by the engine: an exhausted optional task is
  COMPLETED_WITH_ERRORS, a skipped one SKIPPED) and, for system tasks the
  engine runs itself (SWITCH, SET_VARIABLE, JOIN...), `TaskCompleted`.

`WorkflowReopened` (retry, restart, rerun) is the only event that may
follow a terminal one: it supersedes the tasks it names (like a retried
attempt) and returns the run to RUNNING. Fields added later have defaults,
so old journals still decode.

Both are journaled, so recovery is a plain fold of `apply` and never has to
run `decide` again (a definition or TaskDef changed since cannot rewrite
history). Every event carries `at`, the clock reading it happened at, so
folding is deterministic.

Each event encodes to a JSON object whose `"e"` field names its class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar

from cadenza._errors import JournalCorrupted

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_FIELD_VALUES: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float

    def to_json(self) -> dict[str, Any]:
        cls = type(self)
        values = _FIELD_VALUES.get(cls)
        if values is None:
            names = _field_names(cls)
            getter = attrgetter(*names)  # one C call for every field (a tuple when 2 or more)
            values = _FIELD_VALUES[cls] = getter if len(names) > 1 else lambda e: (getter(e),)
        data: dict[str, Any] = {"e": self.kind}
        data.update(zip(_field_names(cls), values(self), strict=True))
        return data


@dataclass(frozen=True, slots=True)
class WorkflowStarted(Event):
    kind: ClassVar[str] = "started"
    run_id: str
    name: str
    version: int
    digest: str
    input: dict[str, Any]
    priority: int = 0
    correlation_id: str | None = None
    key: str | None = None
    parent_id: str | None = None
    task_to_group: dict[str, str] | None = None
    variables: dict[str, Any] | None = None
    trace: dict[str, str] | None = None  # the W3C trace context it was started in


@dataclass(frozen=True, slots=True)
class TaskScheduled(Event):
    kind: ClassVar[str] = "scheduled"
    task_id: str
    ref: str
    name: str
    type: str
    input: dict[str, Any]
    attempt: int = 0
    group: str = "default"
    ready_at: float = 0.0
    retried_from: str | None = None
    iteration: int = 0
    wake_at: float | None = None  # a WAIT task: when it completes by itself (None: at a signal)
    sub_workflow_id: str | None = None  # a SUB_WORKFLOW task: the child run's id
    place_at: float | None = None  # a retry of a timed-out attempt: queued as if made then


@dataclass(frozen=True, slots=True)
class TaskStarted(Event):
    kind: ClassVar[str] = "task_started"
    task_id: str
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCompleted(Event):
    kind: ClassVar[str] = "task_completed"
    task_id: str
    output: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskFailed(Event):
    kind: ClassVar[str] = "task_failed"
    task_id: str
    reason: str
    status: str = "FAILED"  # FAILED, FAILED_WITH_TERMINAL_ERROR or TIMED_OUT
    output: dict[str, Any] | None = None
    lost: bool = False  # its worker died holding it (a crashed slot): the retry keeps its place
    error: str | None = None  # a local worker's exception, its traceback formatted


@dataclass(frozen=True, slots=True)
class TaskUpdated(Event):
    """Progress: output merged; with `group`, the task left its worker group for that one (a
    system task awaiting its completion from outside: `cadenza.core._user_defined`)."""

    kind: ClassVar[str] = "task_updated"
    task_id: str
    output: dict[str, Any]
    group: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRequeued(Event):
    """The worker asked to be called back later (`callbackAfterSeconds`)."""

    kind: ClassVar[str] = "task_requeued"
    task_id: str
    ready_at: float
    output: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TaskCanceled(Event):
    kind: ClassVar[str] = "task_canceled"
    task_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowCompleted(Event):
    kind: ClassVar[str] = "completed"
    output: dict[str, Any]
    reason: str | None = None  # a TERMINATE task's (Conductor keeps it on a COMPLETED run)


@dataclass(frozen=True, slots=True)
class WorkflowFailed(Event):
    kind: ClassVar[str] = "failed"
    reason: str
    status: str = "FAILED"  # FAILED, TIMED_OUT or TERMINATED (a task CANCELED)
    task_id: str | None = None
    output: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class WorkflowTerminated(Event):
    kind: ClassVar[str] = "terminated"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TaskMarked(Event):
    """The engine set a task's status: COMPLETED_WITH_ERRORS (optional, exhausted) or SKIPPED."""

    kind: ClassVar[str] = "task_marked"
    task_id: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowReopened(Event):
    """retry, restart or rerun: the run is RUNNING again; `superseded` tasks are history.

    `dropped` tasks leave the run's task list (restart, rerun: they stay in
    the journal only); `resumed` ones go back to IN_PROGRESS in place (a
    retried JOIN or DO_WHILE, a parent's SUB_WORKFLOW whose child reopened).
    """

    kind: ClassVar[str] = "reopened"
    op: str
    superseded: list[str]
    input: dict[str, Any] | None = None  # a new workflow input (rerun with input)
    version: int | None = None  # restart with latest=True: the definition it now runs
    digest: str | None = None
    variables: dict[str, Any] | None = None  # restart: the definition's initial variables
    dropped: list[str] | None = None
    resumed: list[str] | None = None


@dataclass(frozen=True, slots=True)
class WorkflowPaused(Event):
    kind: ClassVar[str] = "paused"


@dataclass(frozen=True, slots=True)
class WorkflowResumed(Event):
    kind: ClassVar[str] = "resumed"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        WorkflowStarted, TaskScheduled, TaskStarted, TaskCompleted, TaskFailed, TaskUpdated,
        TaskRequeued, TaskCanceled, WorkflowCompleted, WorkflowFailed, WorkflowTerminated,
        WorkflowPaused, WorkflowResumed, TaskMarked, WorkflowReopened,
    )
}  # fmt: skip


TERMINAL_EVENTS: tuple[type[Event], ...] = (WorkflowCompleted, WorkflowFailed, WorkflowTerminated)


def event_from_json(data: dict[str, Any], *, stream_id: str | None = None) -> Event:
    """Decode one journaled event; an unknown or malformed one is `JournalCorrupted`."""
    try:
        fields_ = dict(data)
        cls = EVENT_TYPES[fields_.pop("e")]
        return cls(**fields_)
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalCorrupted(
            f"undecodable event {data!r} in stream {stream_id!r}: {exc}", stream_id=stream_id
        ) from None
