"""What a run's actor does to the world, as data, done in one place once durable.

Design note
-----------
Handling a batch changes only the run's own state. Everything it means for
the rest of the engine — a task to enqueue or withdraw, a lease to grant,
extend or expire, a slot to release, a wake-up to arm, a child to start, a
parent to tell — is an `Effect` value collected while handling. The actor
hands the batch's effects to `execute` only after the batch's record is
durable; if the commit fails, the effects are dropped with the batch and
the batch is redone. So "durable, then act" is one line in the actor, not a
rule each handler must remember.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cadenza.actors import Reply
from cadenza.core._start_workflow import StartRequest
from cadenza.core._state import WorkflowState
from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.dispatch._messages import QueuedTask
from cadenza.engine._messages import OtherStarted
from cadenza.engine.run._services import RunServices


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Put `task` in `group`'s queue (through the timer service if not yet ready)."""

    group: str
    task: QueuedTask


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Take task `task_id` out of `group`; `delayed`: the timer service still holds its
    enqueue for `ready_at` (that one enqueue is dropped when it fires, not a later one)."""

    group: str
    task_id: str
    delayed: bool = False
    ready_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Release:
    """An attempt ended or went back: free its slot and lease; `failed` feeds the breaker."""

    task_id: str
    failed: bool | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """Recovery: `task` (a system task awaiting its completion) still holds its hand-out."""

    task: QueuedTask


@dataclass(frozen=True, slots=True)
class Relet:
    """Recovery: `task`, which an external worker held when the process stopped, keeps its
    hand-out (counted in its limits) under a lease of responseTimeoutSeconds from now."""

    task: QueuedTask
    group: str


@dataclass(frozen=True, slots=True)
class Grant:
    """A poll's hand-out was accepted: lease `task` to its worker."""

    task: QueuedTask


@dataclass(frozen=True, slots=True)
class Extend:
    """A heartbeat or progress report: extend task `task_id`'s lease."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Expire:
    """The lease `token` on task `task_id` ran out: forget it."""

    task_id: str
    token: int


@dataclass(frozen=True, slots=True)
class ForgetPlace:
    """No retry will inherit the queue place kept for task `ref` of run `run_id`."""

    run_id: str
    ref: str


@dataclass(frozen=True, slots=True)
class ArmWake:
    """Wake run `run_id` at `when` (its earliest deadline)."""

    run_id: str
    when: float


@dataclass(frozen=True, slots=True)
class StartRun:
    """Start run `run_id` of workflow `name` (idempotent: the id is derived).

    `parent` is set for a SUB_WORKFLOW's child; `owed` for the failure
    workflow a run owes at its end (its start's reply settles the run), and
    `failed` is then the run that failed (its correlation id and taskToDomain
    carry over, as WorkflowExecutorOps.terminateWorkflow starts it).
    """

    run_id: str
    name: str
    version: int | None
    input: dict[str, Any]
    parent: WorkflowState | None = None
    owed: bool = False
    failed: WorkflowState | None = None
    request: StartRequest | None = None  # a START_WORKFLOW task's request
    starter: tuple[str, str] | None = None  # and its (run id, task id), told once started
    definition: Any = None  # a child's definition from an expression, to start unregistered


@dataclass(frozen=True, slots=True)
class TellStarter:
    """Tell run `starter_id` that its START_WORKFLOW task `task_id` started run `run_id`
    (None: it could not, for `reason`)."""

    starter_id: str
    task_id: str
    run_id: str | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TellParent:
    """Tell the parent of `state` (a SUB_WORKFLOW's child) that it ended."""

    state: WorkflowState


@dataclass(frozen=True, slots=True)
class TerminateChild:
    """Terminate child run `run_id`, whose SUB_WORKFLOW task was cancelled."""

    run_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Run `state` just ended (counted, and told to listeners)."""

    state: WorkflowState


Effect = (
    Enqueue | Withdraw | Release | Hold | Relet | Grant | Extend | Expire | ForgetPlace | ArmWake
    | StartRun | TellParent | TellStarter | TerminateChild | Finished
)  # fmt: skip


def execute(effect: Effect, services: RunServices) -> Reply[str] | None:
    """Do `effect`; only a `StartRun` returns something: its start's reply (None if unknown)."""
    return _DO[type(effect)](effect, services)


def _enqueue(e: Any, s: RunServices) -> None:
    s.enqueue(e.group, e.task)


def _withdraw(e: Any, s: RunServices) -> None:
    s.cancel(e.group, e.task_id, delayed_until=e.ready_at if e.delayed else None)


def _expire(e: Any, s: RunServices) -> None:
    s.ledger.expire(e.task_id, e.token)


def _start(e: Any, s: RunServices) -> Reply[str] | None:
    return s.start_run(
        e.run_id, e.name, e.version, e.input, parent=e.parent, failed=e.failed,
        request=e.request, starter=e.starter,
    )  # fmt: skip


def _relet(e: Any, s: RunServices) -> None:
    s.ledger.hold(e.task, e.group)
    s.ledger.grant(e.task)


def _tell_starter(e: Any, s: RunServices) -> None:
    s.tell_run(e.starter_id, OtherStarted(e.task_id, e.run_id, e.reason))


_DO: dict[type[Any], Callable[[Any, RunServices], Reply[str] | None]] = {  # one lookup per effect
    Enqueue: _enqueue,
    Withdraw: _withdraw,
    Release: lambda e, s: s.released(e.task_id, e.failed),
    Grant: lambda e, s: s.ledger.grant(e.task),
    Hold: lambda e, s: s.ledger.hold(e.task, SYSTEM_GROUP),
    Relet: _relet,
    Extend: lambda e, s: s.ledger.extend(e.task_id),
    Expire: _expire,
    ForgetPlace: lambda e, s: s.ledger.forget_place(e.run_id, e.ref),
    ArmWake: lambda e, s: s.arm(e.when, e.run_id),
    StartRun: _start,
    TellParent: lambda e, s: s.child_ended(e.state),
    TellStarter: _tell_starter,
    TerminateChild: lambda e, s: s.terminate_child(e.run_id, e.reason),
    Finished: lambda e, s: s.run_finished(e.state),
}
