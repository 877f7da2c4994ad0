"""Messages between the runtime's actors.

A message that expects an answer carries a `reply` (the kernel's `Reply`);
the kernel fails it with `ActorCrashed` if its handler crashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cadenza.actors import Reply


@dataclass(slots=True)
class TaskStartedMsg:
    task_id: str
    worker_id: str | None
    reply: Reply[None] | None = None
    leased: QueuedTask | None = None  # set for a poll's hand-off: the run grants a lease
    at: float | None = None  # when the worker got it (the run's clock if None)


@dataclass(slots=True)
class LeaseExpired:
    """An external worker's lease on an attempt ran out (fenced by `token`)."""

    task_id: str
    token: int


@dataclass(slots=True)
class LeaseLapsed:
    """A shared queue's lease on `task_id` ran out (several processes on one journal): the
    attempt times out, or, if its start never reached the run, it is queued again."""

    task_id: str


@dataclass(slots=True)
class TaskResult:
    """A worker's verdict on an attempt: completed, or failed (terminally or not)."""

    task_id: str
    output: dict[str, Any] | None
    failed: bool = False
    reason: str = ""
    terminal: bool = False
    reply: Reply[None] | None = None
    lost: bool = False  # the worker died holding the task (a crashed local slot)
    error: str | None = None  # a local worker's exception, its traceback formatted
    awaiting: bool = False  # a system task returned; it awaits its completion from outside


# -- to a worker group ------------------------------------------------------


@dataclass(slots=True)
class QueuedTask:
    """A task ready (or soon ready) to be handed to a worker."""

    run_id: str
    task_id: str
    type: str
    input: dict[str, Any]
    priority: int
    ready_at: float
    attempt: int
    ref: str
    name: str
    scheduled_at: float
    seq: int = 0
    fairness_key: str | None = None  # tasks of equal priority are served round-robin by key
    place_at: float | None = None  # queued as if made then (a retry of a timed-out attempt)
    iteration: int = 0  # the DO_WHILE iteration the task belongs to (0 outside loops)
    workflow: str = ""  # the run's workflow name (a local worker's TaskContext)
    correlation_id: str | None = None  # the run's correlation id (likewise)
    trace: dict[str, str] | None = None  # the trace context the run started in (RunTask spans)
    async_complete: bool = False  # a system task's `asyncComplete` (`_system_task.py`)


@dataclass(slots=True)
class Heartbeat:
    """A worker holding `task_id` is alive (to the task's run): its lease is extended."""

    task_id: str
    reply: Reply[None]


@dataclass(slots=True)
class Enqueue:
    task: QueuedTask
    delayed: bool = False  # sent by the timer service: the ledger counted it (see retirement)


@dataclass(slots=True)
class Cancel:
    task_id: str


@dataclass(slots=True)
class RegisterWorker:
    task_type: str
    fn: Any
    concurrency: int | tuple[int, int]  # fixed, or (min, max): autoscaled


@dataclass(slots=True)
class Poll:
    task_type: str
    worker_id: str | None
    wait_s: float
    reply: Reply[Any]  # QueuedTask | None


@dataclass(slots=True)
class PollExpired:
    token: int


@dataclass(slots=True)
class WorkerDone:
    task_type: str


@dataclass(slots=True)
class WorkerCrashed:
    """A local worker's slot died (not a task failure: see `_slots.py`)."""

    task_type: str
    error: str


@dataclass(slots=True)
class Tick:
    """Wake-up for a group or the timer service: look at what is due."""

    note: str = field(default="")
