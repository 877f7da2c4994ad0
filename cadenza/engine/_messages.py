"""Messages between the runtime's actors.

A message that expects an answer carries a `reply` (the kernel's `Reply`);
the kernel fails it with `ActorCrashed` if its handler crashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cadenza._trace import carrier
from cadenza.actors import Reply
from cadenza.core._operations import Operation
from cadenza.dispatch._messages import Heartbeat as Heartbeat  # a worker's, sent from dispatch too
from cadenza.language._definition import WorkflowDef

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
    started_by: tuple[str, str] | None = None  # a START_WORKFLOW's (run id, task id)
    trace: dict[str, str] | None = field(default_factory=carrier)  # the starter's, when made


@dataclass(slots=True)
class OtherStarted:
    """A START_WORKFLOW task's run started (`run_id`), or could not (`reason`)."""

    task_id: str
    run_id: str | None
    reason: str | None = None


@dataclass(slots=True)
class Recover:
    """Re-emit the effects of a run loaded from the journal (enqueue, timers)."""

    reply: Reply[None]


@dataclass(slots=True)
class TaskProgress:
    """`update`: new output, optionally back to the queue after a delay."""

    task_id: str
    output: dict[str, Any] | None
    callback_after_s: float | None
    reply: Reply[None]


@dataclass(slots=True)
class Operate:
    """An operator control (see `cadenza.core._operations`), answered once durable."""

    operation: Operation
    reply: Reply[None]


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


@dataclass(slots=True)
class FromInbox:
    """`message`, forwarded from another process through inbox message `inbox_id`: the
    run's actor journals the id with the message's effect (`Append.inbox_seen`)."""

    message: Any
    inbox_id: int

    @property
    def reply(self) -> Reply[Any] | None:
        reply: Reply[Any] | None = getattr(self.message, "reply", None)
        return reply


def unwrapped(messages: list[Any]) -> tuple[list[Any], dict[int, int]]:
    """The messages with each `FromInbox` opened, and the inbox id of each opened one (by
    the identity of the message it carried)."""
    if not any(type(message) is FromInbox for message in messages):
        return messages, {}
    opened: list[Any] = []
    inbox_ids: dict[int, int] = {}
    for message in messages:
        if type(message) is FromInbox:
            inbox_ids[id(message.message)] = message.inbox_id
            message = message.message
        opened.append(message)
    return opened, inbox_ids
