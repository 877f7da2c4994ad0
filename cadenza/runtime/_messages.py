"""Messages between the runtime's actors.

A message that expects an answer carries a `reply` (the kernel's `Reply`);
the kernel fails it with `ActorCrashed` if its handler crashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cadenza.actors import Reply
    from cadenza.runtime._definition import WorkflowDef


# -- to a run's actor -------------------------------------------------------


@dataclass(slots=True)
class StartRun:
    definition: WorkflowDef
    digest: str
    input: dict[str, Any]
    priority: int
    key: str | None
    correlation_id: str | None
    task_to_group: dict[str, str] | None
    parent_id: str | None
    reply: Reply[str]


@dataclass(slots=True)
class Recover:
    """Re-emit the effects of a run loaded from the journal (enqueue, timers)."""

    reply: Reply[None]


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
class TaskResult:
    """A worker's verdict on an attempt: completed, or failed (terminally or not)."""

    task_id: str
    output: dict[str, Any] | None
    failed: bool = False
    reason: str = ""
    terminal: bool = False
    reply: Reply[None] | None = None
    lost: bool = False  # the worker died holding the task (a crashed local slot)


@dataclass(slots=True)
class TaskProgress:
    """`update`: new output, optionally back to the queue after a delay."""

    task_id: str
    output: dict[str, Any] | None
    callback_after_s: float | None
    reply: Reply[None]


@dataclass(slots=True)
class Heartbeat:
    task_id: str
    reply: Reply[None]


@dataclass(slots=True)
class Operate:
    """An operator control: pause, resume, terminate, retry, restart, rerun or skip."""

    op: str
    reason: str
    reply: Reply[None]
    ref: str | None = None  # rerun: the task to rerun from; skip: the task to skip
    input: dict[str, Any] | None = None  # rerun: a new workflow input
    definition: WorkflowDef | None = None  # restart with latest=True: the newest version
    digest: str | None = None


@dataclass(slots=True)
class ChildEnded:
    """A SUB_WORKFLOW's child run `child_id` ended (told to the parent's actor)."""

    child_id: str
    status: str
    output: dict[str, Any]
    reason: str | None = None


@dataclass(slots=True)
class Wake:
    """A deadline of the run may have passed (from the timer service)."""

    when: float


@dataclass(slots=True)
class AuditTimer:
    """Recovery's check: the run's deadline as its journal row promised it."""

    expected: float | None
    reply: Reply[None] | None = None


@dataclass(slots=True)
class Signal:
    """Complete a waiting WAIT or HUMAN task from outside."""

    ref: str
    output: dict[str, Any]
    reply: Reply[None]


@dataclass(slots=True)
class GetRun:
    reply: Reply[Any]  # WorkflowRun


@dataclass(slots=True)
class WaitRun:
    reply: Reply[Any]  # WorkflowRun, once terminal


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
    concurrency: int


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
